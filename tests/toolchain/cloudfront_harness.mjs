// Runs a CloudFront Function's code (read from template.yaml by the Python test) against
// events, in Node.js, as CloudFront runs it: `handler(event)` in a module whose `cloudfront`
// import is the key value store's helper module (here a set of keys the test gives).
// stdin: {"code": "...", "keys": [...] | null, "kvsFails": bool, "events": [...]}
// stdout: the handler's result for each event, in order.
import vm from 'node:vm';

const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));

const keys = new Set(input.keys || []);
const cloudfront = {
  kvs() {
    return {
      async exists(key) {
        if (input.kvsFails) throw new Error('KeyValueStore unavailable');
        if (typeof key !== 'string') throw new TypeError('a key is a string');
        return keys.has(key);
      },
    };
  },
};

// The runtime's module syntax, `import cf from 'cloudfront';`, becomes a binding of the fake.
const importLine = /^\s*import\s+(\w+)\s+from\s+'cloudfront';\s*$/m;
let code = input.code;
const match = code.match(importLine);
if (match) code = code.replace(importLine, `const ${match[1]} = __cloudfront;`);
const context = vm.createContext({ __cloudfront: cloudfront });
vm.runInContext(`${code}\nglobalThis.__handler = handler;`, context);

const results = [];
for (const event of input.events) {
  results.push(await context.__handler(event));
}
process.stdout.write(JSON.stringify(results));
