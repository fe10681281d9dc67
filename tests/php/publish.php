<?php
// Publishes one update with Symfony's own Mercure publisher, unmodified: the symfony/mercure
// component as Debian packages it (php-symfony-mercure, which scripts/test installs, with
// symfony/http-client). It speaks the pre-1.0 protocol: a bearer JWT with the `mercure`
// claim and `topic` form fields. tests/integration/mercure/legacy.rs runs it.
//
// Input (environment):
//   MERCURE_URL     the hub URL (https://localhost:PORT/.well-known/mercure)
//   MERCURE_JWT     the publisher's token, given to the hub as it is
//   MERCURE_CAFILE  the CA certificate (PEM) that issued the hub's certificate
//   MERCURE_UPDATE  a JSON object: topics (list), data, private (bool), id, type, retry (int)
//
// Output: the id the hub answered, on one line, and exit code 0; or the error chain on
// stderr and exit code 1 (2: bad input, 3: symfony/mercure is not installed).

declare(strict_types=1);

use Symfony\Component\HttpClient\HttpClient;
use Symfony\Component\Mercure\Hub;
use Symfony\Component\Mercure\Jwt\StaticTokenProvider;
use Symfony\Component\Mercure\Update;

$autoload = 'Symfony/Component/Mercure/autoload.php';
if (false === stream_resolve_include_path($autoload)) {
    fwrite(STDERR, "publish.php: symfony/mercure is missing: run scripts/test (it installs Debian's php-symfony-mercure)\n");
    exit(3);
}
require_once $autoload;

function input(string $name): string
{
    $value = getenv($name);
    if (false === $value || '' === $value) {
        fwrite(STDERR, "publish.php: $name is not set\n");
        exit(2);
    }

    return $value;
}

try {
    $fields = json_decode(input('MERCURE_UPDATE'), true, 16, JSON_THROW_ON_ERROR);
} catch (JsonException $e) {
    fwrite(STDERR, 'publish.php: MERCURE_UPDATE is not JSON: '.$e->getMessage()."\n");
    exit(2);
}

// The client trusts exactly the test CA; the timeout bounds a hub that never answers.
$client = HttpClient::create(['cafile' => input('MERCURE_CAFILE'), 'timeout' => 10, 'max_duration' => 15]);
$hub = new Hub(input('MERCURE_URL'), new StaticTokenProvider(input('MERCURE_JWT')), null, null, $client);
$update = new Update(
    $fields['topics'],
    $fields['data'] ?? '',
    $fields['private'] ?? false,
    $fields['id'] ?? null,
    $fields['type'] ?? null,
    $fields['retry'] ?? null
);

try {
    $id = $hub->publish($update);
} catch (Throwable $e) {
    for ($cause = $e; null !== $cause; $cause = $cause->getPrevious()) {
        fwrite(STDERR, get_class($cause).': '.$cause->getMessage()."\n");
    }
    exit(1);
}
echo $id, "\n";
