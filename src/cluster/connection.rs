//! The connections to the shared log's Redis: one server, or the master that Redis Sentinel
//! names. `ConnectionManager` reconnects to the address it was made with, which after a
//! Sentinel failover is a replica or nothing; so with Sentinel a watcher asks the Sentinels
//! where the master is (every [`CHECK`], and at once when a command failed) and swaps in
//! connections to the new one. Users take the current connection for each command.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use redis::{
    aio::{ConnectionManager, ConnectionManagerConfig},
    sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType},
    Client, ConnectionAddr, IntoConnectionInfo, RedisResult, TlsCertificates,
};
use tokio::sync::{watch, Notify};

use crate::config::{ClusterConfig, SentinelConfig};

/// How often the watcher asks the Sentinels where the master is, without a failure.
const CHECK: Duration = Duration::from_secs(1);
/// Least time between two questions to the Sentinels, however many commands fail.
const MIN_CHECK: Duration = Duration::from_millis(100);
/// Longest pause between a connection's attempts to reconnect (redis-rs backs off
/// exponentially, by default past ten seconds): a server back, or a new master, is used soon.
const MAX_RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// The current connections, and how to find new ones.
pub(super) struct Connections {
    current: Mutex<Current>,
    /// Raised by a failed command: the watcher asks the Sentinels at once.
    failed: Notify,
    /// The current generation, for readers that hold a connection of their own.
    master: watch::Sender<u64>,
    config: ManagerSettings,
}

#[derive(Clone)]
struct Current {
    client: Client,
    /// Publishes, replays, lookups, the directory.
    commands: ConnectionManager,
    /// Appends, on a connection of their own when they `WAIT` for replicas, so that a
    /// replica's slowness holds no replay back.
    appends: ConnectionManager,
    /// Bumped at each new master: the consumer reconnects when it sees it change.
    generation: u64,
}

#[derive(Clone, Copy)]
struct ManagerSettings {
    timeout: Duration,
    own_append_connection: bool,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let current = self.current();
        f.debug_struct("Connections")
            .field("server", current.client.get_connection_info().addr())
            .field("generation", &current.generation)
            .finish_non_exhaustive()
    }
}

impl Connections {
    /// Connects to the server `config` names (asking the Sentinels first if it has them),
    /// and returns the watcher to spawn that follows a Sentinel failover.
    pub(super) async fn open(
        config: &ClusterConfig,
    ) -> RedisResult<(Arc<Self>, Option<impl std::future::Future<Output = ()>>)> {
        let settings = ManagerSettings {
            timeout: config.timeout,
            own_append_connection: config.wait_replicas > 0,
        };
        let (client, sentinel) = match &config.sentinel {
            None => (direct_client(config)?, None),
            Some(sentinel) => {
                let mut sentinel = sentinel_client(config, sentinel)?;
                let client = within(config.timeout, sentinel.async_get_client()).await?;
                (client, Some(sentinel))
            }
        };
        let current = settings.connect(client, 0).await?;
        let connections = Arc::new(Self {
            current: Mutex::new(current),
            failed: Notify::new(),
            master: watch::Sender::new(0),
            config: settings,
        });
        let watcher = sentinel.map(|sentinel| watch(connections.clone(), sentinel));
        Ok((connections, watcher))
    }

    fn current(&self) -> Current {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The connection for ordinary commands.
    pub(super) fn commands(&self) -> ConnectionManager {
        self.current().commands
    }

    /// The connection for appends (and their `WAIT`).
    pub(super) fn appends(&self) -> ConnectionManager {
        self.current().appends
    }

    /// Which master the connections lead to (a generation): changes when the Sentinels
    /// name a new one.
    pub(super) fn master(&self) -> watch::Receiver<u64> {
        self.master.subscribe()
    }

    /// A connection of its own for a blocking reader (`XREAD BLOCK` holds its connection),
    /// to the current master, with replies allowed `block` longer than other commands.
    pub(super) async fn blocking(&self, block: Duration) -> RedisResult<ConnectionManager> {
        let client = self.current().client;
        let config = manager_config(self.config.timeout + block, self.config.timeout);
        within(
            self.config.timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await
    }

    /// A command failed: with Sentinel, the master may have moved; ask now.
    pub(super) fn failed(&self) {
        self.failed.notify_one();
    }
}

impl ManagerSettings {
    async fn connect(self, client: Client, generation: u64) -> RedisResult<Current> {
        let config = manager_config(self.timeout, self.timeout);
        let open = || {
            within(
                self.timeout,
                ConnectionManager::new_with_config(client.clone(), config.clone()),
            )
        };
        let commands = open().await?;
        let appends = if self.own_append_connection {
            open().await?
        } else {
            commands.clone()
        };
        Ok(Current {
            client,
            commands,
            appends,
            generation,
        })
    }
}

/// Follows the master: asks the Sentinels every [`CHECK`] or after a failure, and when they
/// name another server, connects to it and swaps the connections in. Runs until aborted.
async fn watch(connections: Arc<Connections>, mut sentinel: SentinelClient) {
    let settings = connections.config;
    loop {
        tokio::select! {
            () = tokio::time::sleep(CHECK) => {}
            () = connections.failed.notified() => {}
        }
        let found = within(settings.timeout, sentinel.async_get_client()).await;
        let client = match found {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!(error = %e, "cluster: no Sentinel names a master");
                tokio::time::sleep(MIN_CHECK).await;
                continue;
            }
        };
        let current = connections.current();
        let address = client.get_connection_info().addr().clone();
        if &address != current.client.get_connection_info().addr() {
            match settings.connect(client, current.generation + 1).await {
                Ok(next) => {
                    tracing::warn!(master = %address, "cluster: the Sentinels name a new master; following it");
                    let generation = next.generation;
                    *connections
                        .current
                        .lock()
                        .unwrap_or_else(|e| e.into_inner()) = next;
                    connections.master.send_replace(generation);
                }
                Err(e) => {
                    tracing::warn!(master = %address, error = %e, "cluster: cannot reach the new master yet");
                }
            }
        }
        tokio::time::sleep(MIN_CHECK).await;
    }
}

fn manager_config(response: Duration, connection: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(connection))
        .set_response_timeout(Some(response))
        .set_max_delay(MAX_RECONNECT_DELAY)
}

/// `future`, or a time-out error after `timeout`.
async fn within<T>(
    timeout: Duration,
    future: impl std::future::Future<Output = RedisResult<T>>,
) -> RedisResult<T> {
    tokio::time::timeout(timeout, future)
        .await
        .unwrap_or_else(|_| Err(timeout_error()))
}

pub(super) fn timeout_error() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))
}

/// The client for `config`'s URL, with the password file's secret, and for `rediss://` the
/// configured CA (else the system roots).
fn direct_client(config: &ClusterConfig) -> RedisResult<Client> {
    let mut info = config.redis_url.as_str().into_connection_info()?;
    if let Some(password) = &config.password {
        let settings = info
            .redis_settings()
            .clone()
            .set_password(password.expose());
        info = info.set_redis_settings(settings);
    }
    match certificates(config) {
        Some(certificates) => Client::build_with_tls(info, certificates),
        None => Client::open(info),
    }
}

/// The Sentinel client: the URL's scheme, user, password and database apply to the master
/// and the scheme (with the CA) to the Sentinels too.
fn sentinel_client(
    config: &ClusterConfig,
    sentinel: &SentinelConfig,
) -> RedisResult<SentinelClient> {
    let tls = config.redis_url.scheme() == "rediss";
    let addresses = sentinel.addresses.iter().map(|(host, port)| {
        if tls {
            ConnectionAddr::TcpTls {
                host: host.clone(),
                port: *port,
                insecure: false,
                tls_params: None,
            }
        } else {
            ConnectionAddr::Tcp(host.clone(), *port)
        }
    });
    let mut builder =
        SentinelClientBuilder::new(addresses, &sentinel.master, SentinelServerType::Master)?;
    let database = config.redis_url.path().trim_start_matches('/');
    if !database.is_empty() {
        let database = database.parse().map_err(|_| {
            redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "the URL's path is not a database number",
            ))
        })?;
        builder = builder.set_client_to_redis_db(database);
    }
    if !config.redis_url.username().is_empty() {
        builder = builder.set_client_to_redis_username(config.redis_url.username());
    }
    if let Some(password) = &config.password {
        builder = builder.set_client_to_redis_password(password.expose());
    }
    if let Some(password) = &sentinel.password {
        builder = builder.set_client_to_sentinel_password(password.expose());
    }
    if tls {
        builder = builder
            .set_client_to_redis_tls_mode(redis::TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(redis::TlsMode::Secure);
        if let Some(certificates) = certificates(config) {
            builder = builder
                .set_client_to_redis_certificates(certificates.clone())
                .set_client_to_sentinel_certificates(certificates);
        }
    }
    builder.build()
}

fn certificates(config: &ClusterConfig) -> Option<TlsCertificates> {
    config.ca_pem.as_ref().map(|pem| TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.clone()),
    })
}
