<?php
/* mysql-cycle.php API PORT N MODE USER:PASSWORD:DB... - PHP's MySQL
 * clients (mysqlnd), a connection per cycle. API is mysqli or pdo. N times
 * connect with the next login of the list (round robin), SELECT
 * CURRENT_USER(), DATABASE(), check both are that login's, then go away;
 * MODE quit closes with COM_QUIT (mysqli_close(), or dropping the last
 * reference to the PDO object). Prints one line per error and 'errors E',
 * like mysql-cycle.py.
 */
[$api, $port, $n, $mode] = [$argv[1], (int)$argv[2], (int)$argv[3], $argv[4]];
$logins = array_map(fn($a) => explode(':', $a), array_slice($argv, 5));
if ($mode !== 'quit' || !in_array($api, ['mysqli', 'pdo'], true)) {
	fprintf(STDERR, "usage: mysql-cycle.php mysqli|pdo PORT N quit USER:PASSWORD:DB...\n");
	exit(2);
}
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);

/* One cycle: the row the query returned. */
function cycle($api, $port, $user, $pw, $db)
{
	if ($api === 'mysqli') {
		$c = mysqli_connect('127.0.0.1', $user, $pw, $db, $port);
		$got = mysqli_fetch_row(mysqli_query($c, 'SELECT CURRENT_USER(), DATABASE()'));
		mysqli_close($c);
		return $got;
	}
	$c = new PDO("mysql:host=127.0.0.1;port=$port;dbname=$db", $user, $pw,
		     [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 5]);
	$got = $c->query('SELECT CURRENT_USER(), DATABASE()')->fetch(PDO::FETCH_NUM);
	$c = null;
	return $got;
}

$errors = 0;
for ($i = 0; $i < $n; $i++) {
	[$user, $pw, $db] = $logins[$i % count($logins)];
	$want = ["$user@%", $db];
	try {
		$got = cycle($api, $port, $user, $pw, $db);
	} catch (Exception $e) { /* every failure is counted and shown */
		$errors++;
		printf("run %d: %s\n", $i, substr($e->getMessage(), 0, 200));
		continue;
	}
	if ($got !== $want) {
		$errors++;
		printf("run %d: got %s, want %s\n", $i, json_encode($got), json_encode($want));
	}
}
printf("errors %d\n", $errors);
