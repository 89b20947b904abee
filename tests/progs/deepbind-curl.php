<?php
// deepbind-curl.php PORT N - N requests to http://127.0.0.1:PORT/ through
// PHP's curl extension (which PHP loads with RTLD_DEEPBIND), one handle per
// request: curl_init, curl_exec, curl_close. Prints
// "requests N errors E bodies same|differ" and exits 1 on any error.
if (!function_exists('curl_init')) {
	fwrite(STDERR, "deepbind-curl: the curl extension is not loaded\n");
	exit(2);
}
$port = (int)$argv[1];
$n = (int)$argv[2];
$errors = 0;
$first = null;
$same = true;
for ($i = 0; $i < $n; $i++) {
	$c = curl_init("http://127.0.0.1:$port/");
	curl_setopt($c, CURLOPT_RETURNTRANSFER, true);
	$body = curl_exec($c);
	if ($body === false || curl_getinfo($c, CURLINFO_RESPONSE_CODE) != 200) {
		fwrite(STDERR, "request $i: " . curl_error($c) . "\n");
		$errors++;
	} elseif ($first === null) {
		$first = $body;
	} elseif ($body !== $first) {
		$same = false;
	}
	curl_close($c);
}
echo "requests $n errors $errors bodies " . ($same ? "same" : "differ") . "\n";
exit($errors || !$same ? 1 : 0);
