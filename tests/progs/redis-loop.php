<?php
/* redis-loop.php PORT N same|alternate - phpredis, a client per cycle.
 *
 * Cycle i connects, AUTHs, SELECTs, GETs "who" and asks ACL WHOAMI, then
 * closes. "same": always alice and database 3; "alternate": alice/3 and
 * bob/5 in turn. The test creates the users and stores "who" = "db<N>" in
 * each database. Prints "wrong: cycle I ..." for each cycle whose replies
 * are not its own, then "loop cycles N wrong W errors E".
 */
[$port, $n, $mode] = [(int)$argv[1], (int)$argv[2], $argv[3]];
$wrong = $errors = 0;
for ($i = 0; $i < $n; $i++) {
	[$user, $pw, $db] = ($mode === 'same' || $i % 2 == 0) ? ['alice', 'a', 3] : ['bob', 'b', 5];
	try {
		$r = new Redis();
		$r->connect('127.0.0.1', $port, 2.0);
		$got = [$r->auth([$user, $pw]), $r->select($db), $r->get('who'),
			$r->rawCommand('ACL', 'WHOAMI')];
		$r->close();
	} catch (RedisException $e) {
		$errors++;
		fprintf(STDERR, "redis-loop.php: cycle %d: %s\n", $i, $e->getMessage());
		continue;
	}
	if ($got !== [true, true, "db$db", $user]) {
		$wrong++;
		printf("wrong: cycle %d %s\n", $i, json_encode($got));
	}
}
printf("loop cycles %d wrong %d errors %d\n", $n, $wrong, $errors);
