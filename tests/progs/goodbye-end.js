// goodbye-end.js PORT ROUNDS - Node's net client that says goodbye with
// socket.end() (shutdown(SHUT_WR)) once its reply is read, then waits for
// the server's end, as Node does. Each round sends GET goodbye:0 to Redis.
// Prints "requests R errors E crossed C".
const net = require('net');
const port = +process.argv[2], rounds = +process.argv[3];
let n = 0, errors = 0, crossed = 0;
function one() {
	const s = net.connect(port, '127.0.0.1', () => s.write('GET goodbye:0\r\n'));
	let got = '';
	s.on('data', d => {
		got += d;
		if (got.length >= 8)
			s.end();
	});
	s.on('error', e => { errors++; console.error(e.message); });
	s.on('close', () => {
		if (got !== '$2\r\nv0\r\n')
			crossed++;
		if (++n < rounds)
			one();
		else
			console.log(`requests ${rounds} errors ${errors} crossed ${crossed}`);
	});
}
one();
