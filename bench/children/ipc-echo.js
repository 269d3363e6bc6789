'use strict';
// IPC child for scenario 5: says {ready: true}, then echoes every message back as is.
process.on('message', (message) => process.send(message));
process.send({ ready: true });
