//! The user cache on Redis, spoken by the component itself over
//! `wasi:sockets` TCP so that every wait has a deadline.
//!
//! Spin 4.0.2's Redis key-value store cannot be bounded from a component:
//! its client (one redis-rs `ConnectionManager` per label) has no
//! connection or response timeout and waits out a reconnect backoff of
//! minutes, and spin-sdk 5.2.0's key-value calls block the guest. Here a
//! request opens its own connection (no name lookup: Spin gives guests
//! none), and each call waits at most [`CALL_TIMEOUT`], all of them
//! together at most [`REQUEST_BUDGET`]. The first failure marks the
//! connection broken for the rest of the request, so a dead or silent
//! Redis costs a request one timeout, and the next request tries afresh:
//! the service is back the moment Redis is.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use spin_users_resp::{CacheAddress, Reply, command, parse};
use wasi::clocks::monotonic_clock;
use wasi::io::poll::{Pollable, poll};
use wasi::io::streams::{InputStream, OutputStream, StreamError};
use wasi::sockets::instance_network::instance_network;
use wasi::sockets::network::{
    ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use wasi::sockets::tcp::TcpSocket;
use wasi::sockets::tcp_create_socket::create_tcp_socket;

/// The longest one call (connecting included) may wait.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);
/// The longest all of a request's calls together may wait.
pub const REQUEST_BUDGET: Duration = Duration::from_millis(1000);
/// How long a request waits, when done, for Redis to close first (which
/// leaves the TCP `TIME_WAIT` on the server, not on the Spin host, whose
/// ports would otherwise run out at a few hundred requests a second).
const QUIT_TIMEOUT: Duration = Duration::from_millis(50);
/// Bytes asked of the socket per read.
const READ_CHUNK: u64 = 16 * 1024;

/// A request's connection to the cache's Redis, opened at its first call.
pub struct RedisCache {
    address: CacheAddress,
    state: RefCell<State>,
    /// What is left of [`REQUEST_BUDGET`], in nanoseconds.
    budget: Cell<u64>,
}

enum State {
    Closed,
    Open(Connection),
    /// A call failed: the rest of the request does without the cache.
    Broken,
}

impl RedisCache {
    /// A client for `address`; nothing is sent until the first call.
    pub fn new(address: CacheAddress) -> Self {
        Self {
            address,
            state: RefCell::new(State::Closed),
            budget: Cell::new(nanos(REQUEST_BUDGET)),
        }
    }

    /// `GET key`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        match self.call(&[b"GET", key.as_bytes()])? {
            Reply::Bulk(value) => Ok(value),
            other => Err(format!("GET answered {other:?}")),
        }
    }

    /// `SET key value EX ttl`: Redis forgets the entry when it goes stale.
    pub fn set(&self, key: &str, value: &[u8], ttl_secs: u64) -> Result<(), String> {
        let ttl = ttl_secs.max(1).to_string();
        match self.call(&[b"SET", key.as_bytes(), value, b"EX", ttl.as_bytes()])? {
            Reply::Simple(_) => Ok(()),
            other => Err(format!("SET answered {other:?}")),
        }
    }

    /// `DEL key`.
    pub fn delete(&self, key: &str) -> Result<(), String> {
        match self.call(&[b"DEL", key.as_bytes()])? {
            Reply::Integer(_) => Ok(()),
            other => Err(format!("DEL answered {other:?}")),
        }
    }

    /// `PING`.
    pub fn ping(&self) -> Result<(), String> {
        match self.call(&[b"PING"])? {
            Reply::Simple(_) => Ok(()),
            other => Err(format!("PING answered {other:?}")),
        }
    }

    /// Connects (and authenticates) now if not yet done: a write checks
    /// that it will be able to drop its entry before it commits.
    pub fn connect(&self) -> Result<(), String> {
        self.with_connection(|_, _| Ok(()))
    }

    fn call(&self, args: &[&[u8]]) -> Result<Reply, String> {
        let request = command(args);
        let reply =
            self.with_connection(|connection, deadline| connection.round_trip(&request, deadline))?;
        match reply {
            // The server answered: the connection is fine, the command not.
            Reply::Error(e) => Err(format!("Redis: {e}")),
            reply => Ok(reply),
        }
    }

    /// Runs `f` on the open connection (opening it first) within this
    /// call's deadline; any failure breaks the connection for the request.
    fn with_connection<T>(
        &self,
        f: impl FnOnce(&mut Connection, u64) -> Result<T, String>,
    ) -> Result<T, String> {
        let started = monotonic_clock::now();
        let deadline = started + nanos(CALL_TIMEOUT).min(self.budget.get());
        let mut state = self.state.borrow_mut();
        let outcome = match &mut *state {
            State::Broken => return Err("unavailable earlier in this request".to_owned()),
            State::Open(connection) => f(connection, deadline),
            State::Closed => Connection::open(&self.address, deadline).and_then(|mut c| {
                let result = f(&mut c, deadline);
                *state = State::Open(c);
                result
            }),
        };
        let spent = monotonic_clock::now().saturating_sub(started);
        self.budget.set(self.budget.get().saturating_sub(spent));
        if outcome.is_err() || self.budget.get() == 0 {
            *state = State::Broken;
        }
        outcome
    }
}

impl Drop for RedisCache {
    fn drop(&mut self) {
        if let State::Open(connection) = self.state.get_mut() {
            connection.quit();
        }
    }
}

/// One TCP connection. Fields drop in order: the streams are children of
/// the socket and must go first.
struct Connection {
    input: InputStream,
    output: OutputStream,
    _socket: TcpSocket,
    /// Bytes read but not yet parsed.
    buffer: Vec<u8>,
}

impl Connection {
    /// Connects to `address` and runs its handshake before `deadline`.
    fn open(address: &CacheAddress, deadline: u64) -> Result<Self, String> {
        let (family, remote) = match address.socket {
            std::net::SocketAddr::V4(v4) => {
                let [a, b, c, d] = v4.ip().octets();
                (
                    IpAddressFamily::Ipv4,
                    IpSocketAddress::Ipv4(Ipv4SocketAddress {
                        port: v4.port(),
                        address: (a, b, c, d),
                    }),
                )
            }
            std::net::SocketAddr::V6(v6) => {
                let [a, b, c, d, e, f, g, h] = v6.ip().segments();
                (
                    IpAddressFamily::Ipv6,
                    IpSocketAddress::Ipv6(Ipv6SocketAddress {
                        port: v6.port(),
                        flow_info: 0,
                        address: (a, b, c, d, e, f, g, h),
                        scope_id: v6.scope_id(),
                    }),
                )
            }
        };
        let socket = create_tcp_socket(family).map_err(|e| format!("socket: {e:?}"))?;
        socket
            .start_connect(&instance_network(), remote)
            .map_err(|e| format!("connect: {e:?}"))?;
        let (input, output) = loop {
            if !wait(&socket.subscribe(), deadline) {
                return Err(format!("connect: no answer within {CALL_TIMEOUT:?}"));
            }
            match socket.finish_connect() {
                Ok(streams) => break streams,
                Err(ErrorCode::WouldBlock) => {}
                Err(e) => return Err(format!("connect: {e:?}")),
            }
        };
        let mut connection = Self {
            input,
            output,
            _socket: socket,
            buffer: Vec::new(),
        };
        for step in address.handshake() {
            if let Reply::Error(e) = connection.round_trip(&step, deadline)? {
                return Err(format!("handshake: {e}"));
            }
        }
        Ok(connection)
    }

    /// Sends `request` and reads one reply, before `deadline`.
    fn round_trip(&mut self, request: &[u8], deadline: u64) -> Result<Reply, String> {
        self.send(request, deadline)?;
        self.receive(deadline)
    }

    fn send(&mut self, mut bytes: &[u8], deadline: u64) -> Result<(), String> {
        while !bytes.is_empty() {
            let room = self.output.check_write().map_err(stream_error)?;
            if room == 0 {
                if !wait(&self.output.subscribe(), deadline) {
                    return Err(format!("write: blocked for {CALL_TIMEOUT:?}"));
                }
                continue;
            }
            let take = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
            self.output.write(&bytes[..take]).map_err(stream_error)?;
            bytes = &bytes[take..];
        }
        self.output.flush().map_err(stream_error)
    }

    fn receive(&mut self, deadline: u64) -> Result<Reply, String> {
        loop {
            if let Some((reply, used)) = parse(&self.buffer).map_err(|e| e.to_string())? {
                self.buffer.drain(..used);
                return Ok(reply);
            }
            let bytes = self.input.read(READ_CHUNK).map_err(stream_error)?;
            if bytes.is_empty() {
                if !wait(&self.input.subscribe(), deadline) {
                    return Err(format!("no reply within {CALL_TIMEOUT:?}"));
                }
            } else {
                self.buffer.extend_from_slice(&bytes);
            }
        }
    }

    /// Asks the server to close, and waits briefly for it to.
    fn quit(&mut self) {
        let deadline = monotonic_clock::now() + nanos(QUIT_TIMEOUT);
        if self.send(&command(&[b"QUIT"]), deadline).is_err() {
            return;
        }
        loop {
            match self.input.read(READ_CHUNK) {
                Ok(bytes) if bytes.is_empty() => {
                    if !wait(&self.input.subscribe(), deadline) {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    }
}

/// Whether `ready` fires before `deadline` (monotonic nanoseconds).
fn wait(ready: &Pollable, deadline: u64) -> bool {
    if monotonic_clock::now() >= deadline {
        return false;
    }
    let timer = monotonic_clock::subscribe_instant(deadline);
    poll(&[ready, &timer]).contains(&0)
}

fn stream_error(e: StreamError) -> String {
    match e {
        StreamError::Closed => "the server closed the connection".to_owned(),
        StreamError::LastOperationFailed(e) => format!("I/O: {}", e.to_debug_string()),
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
