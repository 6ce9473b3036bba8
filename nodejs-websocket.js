'use strict';

// require('ws-rs/nodejs-websocket'): nodejs-websocket's API on ws-rs.
module.exports = require('./lib/adapters/nodejs-websocket');
