//! The media workers' interface to the OS: epoll sets, an eventfd waker, and batched UDP
//! receive (`recvmmsg`).
//!
//! Why not mio (tokio's own poller): a worker batches receives by keeping its sockets in a
//! *level-triggered* epoll set that it reads at most once per millisecond, and nests that set in
//! its control set with a *one-shot* registration that it re-arms only when a batch window is
//! over. mio registers everything edge-triggered and offers neither. epoll and eventfd come from
//! rustix (safe wrappers); `recvmmsg`, which rustix does not wrap, is the one `unsafe` call here,
//! kept in [`RecvBatch::recv`].

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::time::Duration;

use rustix::event::{epoll, eventfd, EventfdFlags, Timespec};

/// Events read per `epoll_wait`.
const EVENTS: usize = 512;

const ONESHOT_IN: epoll::EventFlags = epoll::EventFlags::IN.union(epoll::EventFlags::ONESHOT);

fn data(token: u64) -> epoll::EventData {
    epoll::EventData::new_u64(token)
}

/// An epoll set whose entries carry a `u64` token.
pub struct Epoll {
    fd: OwnedFd,
    events: Box<[epoll::Event]>,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        let fd = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let blank = epoll::Event {
            flags: epoll::EventFlags::empty(),
            data: epoll::EventData::new_u64(0),
        };
        Ok(Epoll {
            fd,
            events: vec![blank; EVENTS].into_boxed_slice(),
        })
    }

    /// Watches `fd` for input, level-triggered: reported by every wait while data is queued.
    pub fn add(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        Ok(epoll::add(
            &self.fd,
            fd,
            data(token),
            epoll::EventFlags::IN,
        )?)
    }

    /// Watches `fd` for input once: after it is reported, nothing more until [`Epoll::rearm`].
    pub fn add_oneshot(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        Ok(epoll::add(&self.fd, fd, data(token), ONESHOT_IN)?)
    }

    /// Arms a one-shot entry again (reported at once if `fd` is readable now).
    pub fn rearm(&self, fd: impl AsFd, token: u64) -> io::Result<()> {
        Ok(epoll::modify(&self.fd, fd, data(token), ONESHOT_IN)?)
    }

    pub fn delete(&self, fd: impl AsFd) -> io::Result<()> {
        Ok(epoll::delete(&self.fd, fd)?)
    }

    /// Waits up to `timeout` (`None`: until something is ready) and appends the tokens of the
    /// ready entries to `out`. An interrupted wait returns no tokens.
    pub fn wait(&mut self, timeout: Option<Duration>, out: &mut Vec<u64>) -> io::Result<()> {
        let ts = timeout.map(|d| Timespec {
            tv_sec: d.as_secs().min(i32::MAX as u64) as _,
            tv_nsec: d.subsec_nanos() as _,
        });
        let n = match epoll::wait(&self.fd, &mut self.events[..], ts.as_ref()) {
            Ok(n) => n,
            Err(rustix::io::Errno::INTR) => 0,
            Err(e) => return Err(e.into()),
        };
        out.extend(self.events[..n].iter().map(|e| e.data.u64()));
        Ok(())
    }
}

impl AsFd for Epoll {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Wakes a worker blocked in [`Epoll::wait`] from another thread (an eventfd).
///
/// Wake-ups between two [`Waker::reset`]s cost one system call: the first writes the eventfd,
/// the rest see it pending (an agent pushing many calls' frames at once wakes a worker once).
/// The worker must look at its inbox after `reset`, never before, so nothing sent after the
/// last look can be missed.
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
    /// The eventfd was written and not reset since.
    pending: AtomicBool,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        Ok(Waker {
            fd,
            pending: AtomicBool::new(false),
        })
    }

    pub fn wake(&self) {
        // Pairs with the fence in `reset`: either this sees the flag cleared (and writes), or
        // the worker's look at its inbox after `reset` sees what was sent before this.
        fence(Ordering::SeqCst);
        if self.pending.swap(true, Ordering::SeqCst) {
            return;
        }
        // Fails only if the counter would overflow (it is then readable anyway).
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }

    /// Clears the wake-up (after it was reported).
    /// Reads the eventfd before clearing the flag: a wake-up between the two finds the flag
    /// still set and does not write, and its message is in the inbox the worker reads next.
    pub fn reset(&self) {
        let mut buf = [0u8; 8];
        let _ = rustix::io::read(&self.fd, &mut buf);
        self.pending.store(false, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Datagrams taken from one socket per system call.
pub const BATCH: usize = 4;
/// Largest datagram kept (longer ones are cut: RTP from a phone is far smaller).
pub const MAX_DATAGRAM: usize = 2048;

/// Buffers for [`RecvBatch::recv`], reused for every socket.
pub struct RecvBatch {
    bufs: Box<[[u8; MAX_DATAGRAM]; BATCH]>,
    addrs: [libc::sockaddr_storage; BATCH],
    lens: [usize; BATCH],
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            bufs: Box::new([[0; MAX_DATAGRAM]; BATCH]),
            // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
            addrs: unsafe { mem::zeroed() },
            lens: [0; BATCH],
        }
    }
}

impl RecvBatch {
    /// Takes up to [`BATCH`] queued datagrams from `socket` without waiting; returns how many
    /// (0 when none is queued). Fewer than [`BATCH`] means the queue was emptied.
    pub fn recv(&mut self, socket: &UdpSocket) -> io::Result<usize> {
        let mut iov: [libc::iovec; BATCH] = std::array::from_fn(|i| libc::iovec {
            iov_base: self.bufs[i].as_mut_ptr().cast(),
            iov_len: MAX_DATAGRAM,
        });
        // SAFETY: mmsghdr is plain old data; all zeroes is a valid (empty) value.
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { mem::zeroed() };
        for (i, h) in hdrs.iter_mut().enumerate() {
            h.msg_hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut iov[i];
            h.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at a live buffer and address of the stated sizes, owned
        // by `self` and `iov`, which outlive the call; the kernel writes at most that much.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock => Ok(0),
                _ => Err(e),
            };
        }
        let n = (n as usize).min(BATCH);
        for (i, h) in hdrs[..n].iter().enumerate() {
            self.lens[i] = (h.msg_len as usize).min(MAX_DATAGRAM);
            if h.msg_hdr.msg_namelen == 0 {
                self.addrs[i].ss_family = 0;
            }
        }
        Ok(n)
    }

    /// Datagram `i` of the last [`RecvBatch::recv`] and where it came from (`None` for an
    /// address family other than IPv4/IPv6).
    pub fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let from = socket_addr(self.addrs.get(i)?)?;
        Some((&self.bufs[i][..self.lens[i]], from))
    }
}

fn socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is sized and
            // aligned for.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddrV4::new(ip, u16::from_be(a.sin_port)).into())
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(s as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let port = u16::from_be(a.sin6_port);
            Some(SocketAddrV6::new(ip, port, a.sin6_flowinfo, a.sin6_scope_id).into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_takes_what_is_queued_with_its_sources() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("[::1]:0").ok();
        let mut batch = RecvBatch::default();
        assert_eq!(batch.recv(&rx).unwrap(), 0, "nothing queued: no wait");
        for i in 0..6u8 {
            a.send_to(&[i; 3], rx.local_addr().unwrap()).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(batch.recv(&rx).unwrap(), BATCH);
        let (data, from) = batch.get(0).unwrap();
        assert_eq!((data, from), (&[0u8; 3][..], a.local_addr().unwrap()));
        assert_eq!(batch.get(3).unwrap().0, &[3u8; 3]);
        assert_eq!(
            batch.recv(&rx).unwrap(),
            2,
            "the rest, and the queue is empty"
        );
        assert_eq!(batch.get(1).unwrap().0, &[5u8; 3]);
        if let Some(b) = b {
            let rx6 = UdpSocket::bind("[::1]:0").unwrap();
            b.send_to(b"v6", rx6.local_addr().unwrap()).unwrap();
            std::thread::sleep(Duration::from_millis(20));
            assert_eq!(batch.recv(&rx6).unwrap(), 1);
            assert_eq!(batch.get(0).unwrap().1, b.local_addr().unwrap());
        }
    }

    #[test]
    fn wake_ups_before_a_reset_write_once_and_none_is_lost() {
        let count = |w: &Waker| {
            let mut b = [0u8; 8];
            rustix::io::read(&w.fd, &mut b).map_or(0, |_| u64::from_ne_bytes(b))
        };
        let w = Waker::new().unwrap();
        w.wake();
        w.wake();
        w.wake();
        assert_eq!(count(&w), 1, "one write for three wake-ups");
        w.reset();
        w.wake();
        assert_eq!(count(&w), 1, "after a reset the next wake-up writes");
        w.reset();

        // A worker's loop against a sender: every message is seen without a wait running
        // into its timeout (a lost wake-up would leave one waiting).
        let w = std::sync::Arc::new(Waker::new().unwrap());
        let (tx, rx) = std::sync::mpsc::channel::<u32>();
        const N: u32 = 200_000;
        let sender = {
            let w = w.clone();
            std::thread::spawn(move || {
                for i in 0..N {
                    tx.send(i).unwrap();
                    w.wake();
                    if i % 64 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        };
        let mut ctl = Epoll::new().unwrap();
        ctl.add(&*w, 0).unwrap();
        let (mut got, mut ready) = (0, Vec::new());
        while got < N {
            ready.clear();
            ctl.wait(Some(Duration::from_secs(10)), &mut ready).unwrap();
            assert!(!ready.is_empty(), "woken for nothing: {got} of {N} seen");
            w.reset();
            got += rx.try_iter().count() as u32;
        }
        sender.join().unwrap();
    }

    #[test]
    fn a_oneshot_nested_set_reports_once_until_rearmed() {
        let mut ctl = Epoll::new().unwrap();
        let inner = Epoll::new().unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        inner.add(&sock, 7).unwrap();
        ctl.add_oneshot(&inner, 1).unwrap();
        let waker = Waker::new().unwrap();
        ctl.add(&waker, 2).unwrap();
        let mut got = Vec::new();
        ctl.wait(Some(Duration::ZERO), &mut got).unwrap();
        assert!(got.is_empty());
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(b"x", sock.local_addr().unwrap()).unwrap();
        ctl.wait(Some(Duration::from_secs(5)), &mut got).unwrap();
        assert_eq!(got, [1]);
        got.clear();
        tx.send_to(b"y", sock.local_addr().unwrap()).unwrap();
        ctl.wait(Some(Duration::from_millis(30)), &mut got).unwrap();
        assert!(got.is_empty(), "one-shot: not reported again before rearm");
        ctl.rearm(&inner, 1).unwrap();
        ctl.wait(Some(Duration::from_secs(5)), &mut got).unwrap();
        assert_eq!(got, [1], "still readable: reported at once after rearm");
        let mut inner = inner;
        got.clear();
        inner.wait(Some(Duration::ZERO), &mut got).unwrap();
        assert_eq!(got, [7], "level-triggered: the socket is still reported");
        got.clear();
        waker.wake();
        ctl.wait(Some(Duration::from_secs(5)), &mut got).unwrap();
        assert_eq!(got, [2]);
        waker.reset();
        got.clear();
        ctl.wait(Some(Duration::ZERO), &mut got).unwrap();
        assert!(got.is_empty(), "reset clears the wake-up");
    }
}
