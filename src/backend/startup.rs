//! Backend startup: the first packet, SSL/GSS refusal, cancel requests, the startup
//! message, authentication (`trust` for now), and the messages that tell the client
//! the session is ready (AuthenticationOk, ParameterStatus, BackendKeyData,
//! ReadyForQuery).

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::protocol::messages::{self, TxnStatus};
use super::protocol::startup::StartupPacket;
use super::protocol::{Connection, Incoming};
use super::session::Session;
use super::storage::BackendStorage;
use super::{BackendLaunch, StartupRefusal};
use crate::catalog::{Catalog, CatalogSnapshot};
use crate::error::{sqlstate, QuillError, QuillResult};
use crate::shmem::procarray::{find_backend_for_cancel, ProcKind};
use crate::txn::snapshot::{take_snapshot, ClogOracle};

/// Startup parameters that are not settings.
const NON_SETTING_PARAMS: &[&str] = &["user", "database", "options", "replication"];

/// Runs the startup phase. `Ok(None)`: the connection ended without a session
/// (a cancel request, or the client left); `Err`: a FATAL to send.
pub fn start_session(
    conn: &mut Connection,
    launch: &BackendLaunch,
) -> QuillResult<Option<Session>> {
    // As PostgreSQL: one SSLRequest and one GSSENCRequest may each be refused once; a
    // repeated one is taken for a startup packet of protocol 1234.5679 (or .5680).
    let (mut ssl_done, mut gss_done) = (false, false);
    let (params, minor) = loop {
        let packet = match conn.read_startup_packet()? {
            Incoming::Eof => return Ok(None),
            Incoming::Message(packet) => packet,
        };
        match packet {
            StartupPacket::SslRequest | StartupPacket::GssEncRequest => {
                let (done, code) = if packet == StartupPacket::SslRequest {
                    (&mut ssl_done, 5679)
                } else {
                    (&mut gss_done, 5680)
                };
                if *done {
                    return Err(QuillError::fatal(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        format!(
                            "unsupported frontend protocol 1234.{code}: server supports 3.0 to 3.0"
                        ),
                    ));
                }
                *done = true;
                conn.send_raw(b"N");
                conn.flush()
                    .map_err(|e| QuillError::io("could not send data to client", &e))?;
            }
            StartupPacket::Cancel { pid, key } => {
                process_cancel_request(pid, key);
                return Ok(None);
            }
            StartupPacket::Startup { params, minor, .. } => break (params, minor),
        }
    };
    // `_pq_.` parameters are protocol options, not settings; none is known. A newer
    // 3.x minor or any such option gets NegotiateProtocolVersion, as in PostgreSQL.
    let (protocol_options, params): (Vec<_>, Vec<_>) = params
        .into_iter()
        .partition(|(name, _)| name.starts_with("_pq_."));
    if minor > 0 || !protocol_options.is_empty() {
        conn.send(messages::negotiate_protocol_version(
            protocol_options.into_iter().map(|(name, _)| name).collect(),
        ));
    }
    if let Some(refusal) = launch.refusal {
        return Err(refusal_error(refusal));
    }
    let slot = launch
        .slot
        .expect("a backend without a refusal always has a proc slot");

    // A repeated parameter: the last one counts, as in PostgreSQL.
    let param = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let user = match param("user") {
        Some(user) if !user.is_empty() => user,
        _ => {
            return Err(QuillError::fatal(
                sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
                "no PostgreSQL user name specified in startup packet",
            ))
        }
    };
    let database = param("database")
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| user.clone());
    if launch.config.log_connections() {
        let host = if conn.is_unix_socket() {
            "[local]"
        } else {
            "127.0.0.1"
        };
        log::info!("connection received: host={host}");
    }

    let mut storage = BackendStorage::attach(&launch.data_dir, &launch.config, slot);
    let (is_superuser, db_oid) = authenticate_against_catalog(&storage, &user, &database)?;
    storage.db_oid = db_oid;

    let mut session = Session::new(
        launch.data_dir.clone(),
        user,
        database,
        launch.config.clone(),
    );
    session.attach_storage(storage);
    // PostgreSQL's process_startup_options: the `options` switches first, then the
    // other parameters, so an explicit parameter wins over the same `-c` option.
    let mut settings = match param("options") {
        Some(options) => crate::config::split_startup_options(&options)?,
        None => Vec::new(),
    };
    settings.extend(
        params
            .iter()
            .filter(|(k, _)| !NON_SETTING_PARAMS.contains(&k.as_str()))
            .cloned(),
    );
    let as_fatal = |mut e: QuillError| {
        e.severity = crate::error::Severity::Fatal;
        e
    };
    session
        .set_authenticated_user(is_superuser)
        .map_err(as_fatal)?;
    for (name, value) in settings {
        session
            .apply_startup_setting(&name, &value)
            .map_err(as_fatal)?;
    }
    session.mark_startup_settings_as_baseline();

    let shmem = crate::shmem::shmem();
    shmem.procs()[slot].occupy(ProcKind::Backend, launch.cancel_key);

    conn.send(messages::authentication_ok());
    for (name, value) in session.changed_reported_parameters() {
        conn.send(messages::parameter_status(&name, &value));
    }
    conn.send(messages::backend_key_data(
        nix::unistd::getpid().as_raw(),
        launch.cancel_key,
    ));
    conn.send(messages::ready_for_query(TxnStatus::Idle));
    if launch.config.log_connections() {
        log::info!(
            "connection authorized: user={} database={} application_name={}",
            session.user(),
            session.database(),
            session.application_name()
        );
    }
    Ok(Some(session))
}

/// Signals the backend a CancelRequest names, if pid and key match a live backend.
/// Nothing is sent back, whatever happens (PostgreSQL's rule: a cancel reveals nothing).
fn process_cancel_request(pid: i32, key: i32) {
    let procs = crate::shmem::shmem().procs();
    match find_backend_for_cancel(procs, pid, key) {
        Some(target) => {
            let _ = kill(Pid::from_raw(target), Signal::SIGINT);
        }
        None => log::info!("wrong key in cancel request for process {pid}"),
    }
}

fn refusal_error(refusal: StartupRefusal) -> QuillError {
    match refusal {
        StartupRefusal::TooManyClients => QuillError::fatal(
            sqlstate::TOO_MANY_CONNECTIONS,
            "sorry, too many clients already",
        ),
        StartupRefusal::Starting => QuillError::fatal(
            sqlstate::CANNOT_CONNECT_NOW,
            "the database system is starting up",
        ),
        StartupRefusal::ShuttingDown => QuillError::fatal(
            sqlstate::CANNOT_CONNECT_NOW,
            "the database system is shutting down",
        ),
        StartupRefusal::InRecovery => QuillError::fatal(
            sqlstate::CANNOT_CONNECT_NOW,
            "the database system is in recovery mode",
        ),
    }
}

/// Looks the role and the database up in the shared catalogs (pg_authid,
/// pg_database) with a fresh snapshot; returns whether the role is a superuser.
/// Authentication itself is `trust` for now.
fn authenticate_against_catalog(
    storage: &BackendStorage,
    user: &str,
    database: &str,
) -> QuillResult<(bool, u32)> {
    let as_fatal = |mut e: QuillError| {
        e.severity = crate::error::Severity::Fatal;
        e
    };
    let (pool, clog) = (&storage.pool, &storage.clog);
    let shmem = crate::shmem::shmem();
    let next_xid = shmem
        .control()
        .next_xid
        .load(std::sync::atomic::Ordering::SeqCst);
    let snapshot = take_snapshot(shmem.procs(), next_xid, 0);
    let oracle = ClogOracle::new(clog, 0);
    let snap = CatalogSnapshot {
        snapshot: &snapshot,
        oracle: &oracle,
    };
    let mut catalog = Catalog::new(pool, 0);
    let Some(role) = catalog.role_by_name(&snap, user).map_err(as_fatal)? else {
        return Err(QuillError::fatal(
            sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
            format!("role \"{user}\" does not exist"),
        ));
    };
    if !role.can_login {
        return Err(QuillError::fatal(
            sqlstate::INVALID_AUTHORIZATION_SPECIFICATION,
            format!("role \"{user}\" is not permitted to log in"),
        ));
    }
    let Some(db) = catalog
        .database_by_name(&snap, database)
        .map_err(as_fatal)?
    else {
        return Err(QuillError::fatal(
            sqlstate::INVALID_CATALOG_NAME,
            format!("database \"{database}\" does not exist"),
        ));
    };
    if !db.allow_connections {
        return Err(QuillError::fatal(
            sqlstate::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!("database \"{database}\" is not currently accepting connections"),
        ));
    }
    Ok((role.superuser, db.oid))
}
