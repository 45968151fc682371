// write.js — Node writers for tests/35-writers.t: writes standard input to
// FILE as a Node program would, and prints "ok" or the error's code.
//
//   node write.js FILE sync      fs.writeFileSync
//   node write.js FILE promises  fs.promises.writeFile
//   node write.js FILE handle    FileHandle.write in a loop that resends
//                                the rest after a short count
'use strict';
const fs = require('fs');
const [path, how] = process.argv.slice(2);
const data = fs.readFileSync(0);

async function write() {
  if (how === 'sync') return fs.writeFileSync(path, data);
  if (how === 'promises') return fs.promises.writeFile(path, data);
  const fh = await fs.promises.open(path, 'w');
  try {
    for (let off = 0; off < data.length;) {
      const { bytesWritten } = await fh.write(data, off, data.length - off);
      off += bytesWritten;
    }
  } finally {
    await fh.close();
  }
}

write().then(() => console.log('ok'), (e) => console.log(e.code));
