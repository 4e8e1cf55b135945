//! RTP ports: each call gets an even UDP port from the configured range (`--rtp-ports
//! 10000-20000`), bound on the media address, and gives it back when its [`PortLease`] drops.
//!
//! Ports are picked at random (OS randomness for each call), not round-robin: with round-robin,
//! a caller who saw its own port knew the next call's and could spray it (the RTP hijack of
//! docs/security.md). A port released recently is skipped while others are free, so late
//! packets of an ended call do not reach the next one; ports still leased and ports another
//! program holds (the bind fails) are skipped too. RTCP would take the odd port above;
//! phonetree sends no RTCP and leaves it alone.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex};

use std::net::UdpSocket;

/// Why no RTP port could be had.
#[derive(Debug)]
pub enum PortError {
    /// Not `LOW-HIGH` with LOW ≤ HIGH, or no even port inside.
    BadRange(String),
    /// Every even port of the range is leased or taken.
    Exhausted { range: RangeInclusive<u16> },
    /// Binding failed for another reason than the port being in use.
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

impl fmt::Display for PortError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortError::BadRange(r) => write!(f, "bad RTP port range {r:?} (expected LOW-HIGH)"),
            PortError::Exhausted { range } => {
                write!(f, "no free RTP port in {}-{}", range.start(), range.end())
            }
            PortError::Bind { addr, source } => write!(f, "cannot bind RTP to {addr}: {source}"),
        }
    }
}

impl std::error::Error for PortError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PortError::Bind { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Parses `10000-20000`.
pub fn parse_range(s: &str) -> Result<RangeInclusive<u16>, PortError> {
    let bad = || PortError::BadRange(s.to_string());
    let (lo, hi) = s.trim().split_once('-').ok_or_else(bad)?;
    let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
    if lo > hi || lo == 0 {
        return Err(bad());
    }
    Ok(lo..=hi)
}

/// Ports released most recently, skipped while others are free (at most this many).
const QUARANTINE: usize = 64;

#[derive(Debug)]
struct State {
    leased: HashSet<u16>,
    /// Recently released ports, oldest first.
    recent: VecDeque<u16>,
}

/// Hands out even RTP ports. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct RtpPortAllocator {
    ip: IpAddr,
    first: u16,
    last: u16,
    state: Arc<Mutex<State>>,
}

/// A bound RTP socket and, when it came from an allocator, the lease of its port.
#[derive(Debug)]
pub struct RtpSocket {
    pub socket: UdpSocket,
    pub lease: Option<PortLease>,
}

impl From<UdpSocket> for RtpSocket {
    fn from(socket: UdpSocket) -> Self {
        RtpSocket {
            socket,
            lease: None,
        }
    }
}

impl TryFrom<tokio::net::UdpSocket> for RtpSocket {
    type Error = std::io::Error;

    /// Takes the socket out of tokio's reactor (a media worker polls it from now on).
    fn try_from(socket: tokio::net::UdpSocket) -> std::io::Result<Self> {
        Ok(socket.into_std()?.into())
    }
}

/// A port taken from an allocator; returned when dropped.
#[derive(Debug)]
pub struct PortLease {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl PortLease {
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let mut st = lock(&self.state);
        st.leased.remove(&self.port);
        if st.recent.len() >= QUARANTINE {
            st.recent.pop_front();
        }
        st.recent.push_back(self.port);
    }
}

/// A random index below `n` (OS randomness; std's random hash keys if that fails).
fn random_below(n: usize) -> usize {
    let r = getrandom::u64().unwrap_or_else(|_| {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    // `n` is at most 32,768 (even ports of u16): the modulo bias is negligible.
    (r % n.max(1) as u64) as usize
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    // Every mutation is one insert or remove: a poisoned lock holds a consistent set.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RtpPortAllocator {
    /// Ports in `range` (its even ones) on `ip`.
    pub fn new(ip: IpAddr, range: RangeInclusive<u16>) -> Result<RtpPortAllocator, PortError> {
        let first = range.start().saturating_add(range.start() % 2);
        let last = range.end() - range.end() % 2;
        if first > last || first == 0 {
            return Err(PortError::BadRange(format!(
                "{}-{}",
                range.start(),
                range.end()
            )));
        }
        Ok(RtpPortAllocator {
            ip,
            first,
            last,
            state: Arc::new(Mutex::new(State {
                leased: HashSet::new(),
                recent: VecDeque::new(),
            })),
        })
    }

    /// Number of ports leased now.
    pub fn leased(&self) -> usize {
        lock(&self.state).leased.len()
    }

    /// Binds a free even port picked at random (non-blocking).
    pub fn allocate(&self) -> Result<RtpSocket, PortError> {
        let count = usize::from((self.last - self.first) / 2) + 1;
        let start = random_below(count);
        let mut st = lock(&self.state);
        // First pass: skip recently released ports; second pass: take them if nothing else.
        for i in 0..2 * count {
            let index = (start + i) % count;
            let port = self.first + 2 * index as u16;
            if st.leased.contains(&port) || (i < count && st.recent.contains(&port)) {
                continue;
            }
            let addr = SocketAddr::new(self.ip, port);
            let std_socket = match std::net::UdpSocket::bind(addr) {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(PortError::Bind { addr, source: e }),
            };
            std_socket
                .set_nonblocking(true)
                .map_err(|e| PortError::Bind { addr, source: e })?;
            let socket = std_socket;
            st.leased.insert(port);
            return Ok(RtpSocket {
                socket,
                lease: Some(PortLease {
                    port,
                    state: self.state.clone(),
                }),
            });
        }
        Err(PortError::Exhausted {
            range: self.first..=self.last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn ranges_parse() {
        assert_eq!(parse_range("10000-20000").unwrap(), 10000..=20000);
        assert_eq!(parse_range(" 5 - 9 ").unwrap(), 5..=9);
        for bad in ["", "10000", "20000-10000", "a-b", "0-10", "1-70000"] {
            assert!(parse_range(bad).is_err(), "{bad}");
        }
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert!(
            RtpPortAllocator::new(lo, 41001..=41001).is_err(),
            "no even port"
        );
    }

    #[test]
    fn ports_are_random_and_a_released_port_is_not_the_next_one() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let alloc = RtpPortAllocator::new(lo, 43000..=44999).unwrap();
        let held: Vec<RtpSocket> = (0..12).filter_map(|_| alloc.allocate().ok()).collect();
        let ports: Vec<u16> = held
            .iter()
            .map(|s| s.socket.local_addr().unwrap().port())
            .collect();
        assert!(ports.len() >= 10, "{ports:?}");
        // Round-robin would give steps of +2; random picks from 1,000 ports almost never do.
        let steps_of_two = ports.windows(2).filter(|w| w[1] == w[0] + 2).count();
        assert!(steps_of_two <= 2, "predictable ports: {ports:?}");
        let released = ports[0];
        drop(held);
        for _ in 0..20 {
            let s = alloc.allocate().unwrap();
            assert_ne!(s.socket.local_addr().unwrap().port(), released);
        }
    }

    #[tokio::test]
    async fn even_ports_released_on_drop_and_exhaustion_is_an_error() {
        let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
        // Six even ports in a high range; some may be taken by other programs, which is fine.
        let alloc = RtpPortAllocator::new(lo, 47001..=47012).unwrap();
        let mut held = Vec::new();
        while let Ok(s) = alloc.allocate() {
            let port = s.socket.local_addr().unwrap().port();
            assert_eq!(port % 2, 0);
            assert!((47002..=47012).contains(&port));
            assert_eq!(s.lease.as_ref().map(PortLease::port), Some(port));
            held.push(s);
        }
        assert!(!held.is_empty());
        assert_eq!(alloc.leased(), held.len());
        assert!(matches!(alloc.allocate(), Err(PortError::Exhausted { .. })));
        let freed = held.remove(0);
        let port = freed.socket.local_addr().unwrap().port();
        drop(freed);
        assert_eq!(alloc.leased(), held.len());
        // The only free port, recently released: taken in the second pass.
        let again = alloc.allocate().unwrap();
        assert_eq!(again.socket.local_addr().unwrap().port(), port);
    }
}
