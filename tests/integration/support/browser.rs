//! A real browser: Debian's `chromium`, driven headless by playwright-core from npm
//! (`tests/browser/run.mjs`), runs a scenario module from `tests/browser/scenarios/` in a page
//! the test server serves. The browser accepts exactly the server's certificate (its key is
//! pinned with `--ignore-certificate-errors-spki-list`, see run.mjs), so the page is a secure
//! context as it would be for a user who trusts the local CA.

use std::{path::Path, process::Stdio, time::Duration};

use tokio::process::Command;

use super::{TestServer, PATIENCE};

const MISSING: &str = "run scripts/test (it installs chromium, nodejs, npm and, with `npm ci`, \
                       tests/browser/node_modules)";

/// The bound run.mjs puts on a whole scenario, browser start and close included.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `tests/browser/scenarios/{scenario}` in Chromium on `page_url` (which `server` serves)
/// and returns what the scenario's `run(page, env)` returned. `env` becomes that `env`
/// object, all values strings.
///
/// Panics, naming `scripts/test`, when node, chromium or playwright-core is missing; and with
/// the runner's stdout and stderr (the page's console included) when the scenario fails.
pub async fn run_scenario(
    server: &TestServer,
    scenario: &str,
    page_url: &str,
    env: &[(&str, &str)],
) -> serde_json::Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let scenario_path = dir.join("scenarios").join(scenario);
    assert!(
        scenario_path.is_file(),
        "no scenario {}",
        scenario_path.display()
    );
    check_tools(&dir).await;

    let scenario_env: serde_json::Map<String, serde_json::Value> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).into()))
        .collect();
    let child = Command::new("node")
        .arg(dir.join("run.mjs"))
        .arg(&scenario_path)
        .env("PAGE_URL", page_url)
        .env("SERVER_CERT", server.cert_dir.join("server.pem"))
        .env(
            "SCENARIO_ENV",
            serde_json::Value::Object(scenario_env).to_string(),
        )
        .env(
            "SCENARIO_TIMEOUT_MS",
            SCENARIO_TIMEOUT.as_millis().to_string(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A test that panics or times out must not leave node (and its browser) behind.
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn node: {e}; {MISSING}"));
    // run.mjs gives up on its own after SCENARIO_TIMEOUT and says why; this bound is only
    // for a runner that cannot even do that.
    let output = tokio::time::timeout(SCENARIO_TIMEOUT + PATIENCE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("browser scenario {scenario} did not finish in time"))
        .expect("wait for node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let result = stdout
        .lines()
        .find_map(|line| line.strip_prefix("RESULT "))
        .filter(|_| output.status.success());
    let Some(json) = result else {
        panic!(
            "browser scenario {scenario} on {page_url} failed ({}):\n\
             --- stdout\n{stdout}--- stderr\n{stderr}",
            output.status
        );
    };
    if !stderr.trim().is_empty() {
        // The page's console: shown by `cargo test -- --nocapture` or with a later failure.
        eprintln!("browser scenario {scenario}:\n{stderr}");
    }
    serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("scenario {scenario} printed invalid JSON ({e}): {json}"))
}

/// Fails the test, naming `scripts/test`, unless node, the browser and playwright-core are
/// all there: a missing tool is a broken set-up, never a skip.
async fn check_tools(dir: &Path) {
    let version = Command::new("node")
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .await
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
    let Some(version) = version else {
        panic!("node is needed for the browser tests: {MISSING}");
    };
    // The pinned playwright-core (package.json) declares node >= 18: Debian 12's own nodejs.
    let major = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse::<u32>().ok());
    if major.is_none_or(|major| major < 18) {
        panic!("node {version} is too old for playwright-core (needs 18 or later): {MISSING}");
    }
    let chromium = std::env::var_os("CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into());
    if !Path::new(&chromium).is_file() {
        panic!(
            "{} (Debian's chromium) is needed for the browser tests: {MISSING}",
            Path::new(&chromium).display()
        );
    }
    if !dir
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        panic!("tests/browser/node_modules/playwright-core is missing: {MISSING}");
    }
}
