'use strict';

// require('ws-rs/faye'): faye-websocket's API on ws-rs.
module.exports = require('./lib/adapters/faye');
