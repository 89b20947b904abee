// redis-loop.js PORT N same|alternate - Node.js with a RESP client of its
// own (net.Socket, no library): a connection per cycle, AUTH, SELECT, GET
// "who" and ACL WHOAMI sent one after another, each reply parsed from the
// stream, then destroy(). "same": always alice and database 3; "alternate":
// alice/3 and bob/5 in turn. Prints "wrong: cycle I ..." for each cycle
// whose replies are not its own, then "loop cycles N wrong W errors E".
'use strict';
const net = require('net');

const [port, n, mode] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];

function encode(words) {
	let out = `*${words.length}\r\n`;
	for (const w of words) out += `$${Buffer.byteLength(w)}\r\n${w}\r\n`;
	return out;
}

// One RESP2 value from buf at off: [value, next offset], or null if partial.
function parse(buf, off) {
	const eol = buf.indexOf('\r\n', off);
	if (eol < 0) return null;
	const t = String.fromCharCode(buf[off]), line = buf.toString('latin1', off + 1, eol);
	if (t === '+' || t === '-' || t === ':') return [t === '+' ? line : t + line, eol + 2];
	if (t !== '$') throw new Error(`unexpected reply type ${t}`);
	const len = Number(line);
	if (len < 0) return ['(nil)', eol + 2];
	if (buf.length < eol + 2 + len + 2) return null;
	return [buf.toString('latin1', eol + 2, eol + 2 + len), eol + 4 + len];
}

function cycle(words) {
	return new Promise((resolve, reject) => {
		const sock = net.createConnection({ host: '127.0.0.1', port });
		let buf = Buffer.alloc(0), i = 0;
		const got = [];
		sock.setTimeout(2000, () => sock.destroy(new Error('timeout')));
		sock.on('error', reject);
		sock.on('connect', () => sock.write(encode(words[0])));
		sock.on('data', (d) => {
			buf = Buffer.concat([buf, d]);
			let v;
			while ((v = parse(buf, 0))) {
				got.push(v[0]);
				buf = buf.subarray(v[1]);
				if (++i === words.length) {
					// destroy(), not end(): end() calls shutdown(), which
					// keeps twpool from reusing the connection.
					sock.destroy();
					return resolve(got);
				}
				sock.write(encode(words[i]));
			}
		});
	});
}

async function main() {
	let wrong = 0, errors = 0;
	for (let i = 0; i < n; i++) {
		const [user, pw, db] = mode === 'same' || i % 2 === 0 ? ['alice', 'a', '3'] : ['bob', 'b', '5'];
		try {
			const got = await cycle([['AUTH', user, pw], ['SELECT', db], ['GET', 'who'], ['ACL', 'WHOAMI']]);
			if (got.join(' ') !== ['OK', 'OK', `db${db}`, user].join(' ')) {
				wrong++;
				console.log(`wrong: cycle ${i} ${got.join(' ')}`);
			}
		} catch (e) {
			errors++;
			console.error(`redis-loop.js: cycle ${i}: ${e.message}`);
		}
	}
	console.log(`loop cycles ${n} wrong ${wrong} errors ${errors}`);
}

main();
