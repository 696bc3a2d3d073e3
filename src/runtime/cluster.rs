//! Connecting the processes of a timely cluster (`-n N -p I`).
//!
//! Timely's own `initialize_networking` polls its listener and sleeps a whole second whenever no
//! peer has connected yet, and the same after every refused connect. Processes started together
//! nearly always hit one of those sleeps, so every cluster run paid about a second before its
//! first event (measured: 2 processes × 1 worker replaying a year spent 1.0 of its 5.4 s there).
//! This module makes the same connections with a blocking accept and a short connect backoff,
//! then hands the sockets to timely's `initialize_networking_from_sockets`; the wire protocol
//! after the handshake is timely's own.
//!
//! The handshake is timely's: process `p` connects to every lower-indexed process, announces its
//! index as a big-endian u64, and accepts connections from every higher-indexed one.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context;
use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
use timely::communication::allocator::ProcessBuilder;
use timely::communication::{AllocatorBuilder, Hooks};

/// The longest pause between connection attempts to a peer that is not listening yet.
const MAX_BACKOFF: Duration = Duration::from_millis(50);

/// After this long without reaching a peer, say so on stderr (once per peer).
const PATIENCE: Duration = Duration::from_secs(2);

/// Connects process `me` to every other process in `addresses` (one `host:port` per process)
/// and builds timely's allocators for `threads` local workers. The second value must be kept
/// alive while the computation runs: it joins timely's network threads.
pub fn connect(
    addresses: &[String],
    me: usize,
    threads: usize,
) -> anyhow::Result<(Vec<AllocatorBuilder>, Box<dyn std::any::Any + Send>)> {
    let sockets = sockets(addresses, me)?;
    let hooks = Hooks::default();
    let process =
        ProcessBuilder::new_typed_vector(threads, hooks.refill.clone(), hooks.spill.clone());
    let (builders, guard) =
        initialize_networking_from_sockets(process, sockets, me, threads, hooks)
            .context("starting timely's network threads")?;
    Ok((
        builders.into_iter().map(AllocatorBuilder::Tcp).collect(),
        Box::new(guard),
    ))
}

/// One socket per process, in process order, `None` at `me`.
pub fn sockets(addresses: &[String], me: usize) -> anyhow::Result<Vec<Option<TcpStream>>> {
    anyhow::ensure!(me < addresses.len(), "process {me} has no address");
    // Bind before connecting anywhere, so lower-indexed peers never wait on us to listen.
    let listener = TcpListener::bind(&addresses[me])
        .with_context(|| format!("process {me}: listening on {}", addresses[me]))?;
    let higher = addresses.len() - me - 1;
    let acceptor = std::thread::Builder::new()
        .name("caspers:accept".into())
        .spawn(move || accept(&listener, me, higher))?;
    let mut sockets: Vec<Option<TcpStream>> = Vec::with_capacity(addresses.len());
    for (peer, address) in addresses.iter().enumerate().take(me) {
        sockets.push(Some(dial(address, peer, me)?));
    }
    sockets.push(None);
    let accepted = acceptor
        .join()
        .map_err(|_| anyhow::anyhow!("process {me}: the accepting thread panicked"))??;
    sockets.extend(accepted.into_iter().map(Some));
    Ok(sockets)
}

/// Connects to `peer` at `address`, retrying with a short backoff until it listens.
fn dial(address: &str, peer: usize, me: usize) -> anyhow::Result<TcpStream> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    let mut warned = false;
    loop {
        match TcpStream::connect(address) {
            Ok(mut stream) => {
                stream.set_nodelay(true)?;
                stream
                    .write_all(&(me as u64).to_be_bytes())
                    .with_context(|| format!("process {me}: greeting process {peer}"))?;
                return Ok(stream);
            }
            Err(err) => {
                if !warned && started.elapsed() >= PATIENCE {
                    eprintln!(
                        "process {me}: waiting for process {peer} at {address} ({err}); retrying"
                    );
                    warned = true;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Accepts one connection from each of the `count` processes above `me`, in process order.
fn accept(listener: &TcpListener, me: usize, count: usize) -> anyhow::Result<Vec<TcpStream>> {
    let mut accepted: Vec<Option<TcpStream>> = (0..count).map(|_| None).collect();
    while accepted.iter().any(Option::is_none) {
        let (mut stream, from) = listener
            .accept()
            .with_context(|| format!("process {me}: accepting a peer"))?;
        stream.set_nodelay(true)?;
        let mut index = [0u8; 8];
        stream
            .read_exact(&mut index)
            .with_context(|| format!("process {me}: reading the greeting of {from}"))?;
        let index = u64::from_be_bytes(index);
        let slot = usize::try_from(index)
            .ok()
            .and_then(|i| i.checked_sub(me + 1))
            .filter(|&slot| slot < count)
            .with_context(|| format!("process {me}: {from} claims to be process {index}"))?;
        anyhow::ensure!(
            accepted[slot].replace(stream).is_none(),
            "process {me}: two peers claim to be process {index}"
        );
    }
    Ok(accepted.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Free loopback addresses, found by binding port 0 (released before use; a race with
    /// other programs is possible but harmless in a test).
    fn addresses(n: usize) -> Vec<String> {
        let held: Vec<TcpListener> = (0..n)
            .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        held.iter()
            .map(|l| l.local_addr().unwrap().to_string())
            .collect()
    }

    #[test]
    fn every_pair_of_processes_gets_one_socket_and_knows_who_is_on_the_other_end() {
        let addresses = addresses(3);
        // Start the highest index first: it dials peers that are not listening yet.
        let handles: Vec<_> = (0..3)
            .rev()
            .map(|me| {
                let addresses = addresses.clone();
                std::thread::spawn(move || (me, sockets(&addresses, me).unwrap()))
            })
            .collect();
        let mut all: Vec<(usize, Vec<Option<TcpStream>>)> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        all.sort_by_key(|(me, _)| *me);
        // Each process writes its index to every peer; each must read the index of the process
        // in that slot.
        for (me, socks) in &mut all {
            assert_eq!(socks.len(), 3);
            assert!(socks[*me].is_none());
            for sock in socks.iter_mut().flatten() {
                sock.write_all(&[*me as u8]).unwrap();
            }
        }
        for (me, socks) in &mut all {
            for (peer, sock) in socks.iter_mut().enumerate() {
                if let Some(sock) = sock {
                    let mut byte = [0u8];
                    sock.read_exact(&mut byte).unwrap();
                    assert_eq!(usize::from(byte[0]), peer, "process {me}, slot {peer}");
                }
            }
        }
    }

    #[test]
    fn a_peer_claiming_an_impossible_index_is_an_error() {
        let addresses = addresses(2);
        let listener_side = {
            let addresses = addresses.clone();
            std::thread::spawn(move || sockets(&addresses, 0))
        };
        // Pretend to be process 7 of 2.
        let mut stream = loop {
            if let Ok(s) = TcpStream::connect(&addresses[0]) {
                break s;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        stream.write_all(&7u64.to_be_bytes()).unwrap();
        let err = listener_side.join().unwrap().unwrap_err();
        assert!(
            format!("{err:#}").contains("claims to be process 7"),
            "{err:#}"
        );
    }
}
