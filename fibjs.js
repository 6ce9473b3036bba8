'use strict';

// require('ws-rs/fibjs'): the shape of fibjs's ws module on ws-rs.
module.exports = require('./lib/adapters/fibjs');
