/* bench/engine/floor.c — the kernel's price of a call's RTP on this machine, for comparison.
 *
 * One thread does only what a media engine cannot avoid: for each of N "calls", one UDP socket
 * sends a 172-byte packet (G.711, 20 ms) every 20 ms on an absolute schedule, waking every
 * 0.5 ms to send what is due (as phonetree's media workers do); with --recv it also reads the
 * packets a peer sends to each socket every 20 ms (level-triggered epoll + recvmmsg, at most
 * once per ms). No RTP logic, no codec, no DTMF detection. A second thread is the peer: it
 * owns N sockets, sleeps in epoll, reads what arrives and (with --recv) sends its own stream —
 * like sipp, it is woken by the packets it gets. Printed: the engine thread's CPU per call as
 * % of a core (CLOCK_THREAD_CPUTIME_ID, user + system, softirq work done in its context
 * included), which is what `phonetree run` pays at least for the same traffic.
 *
 * --raw K opens K raw IPPROTO_UDP sockets bound to 127.0.0.1 that are never read, as sipp's pcap
 * player does (one per call playing a pcap; run.sh's measured calls): Linux hands every UDP
 * datagram for 127.0.0.1 to each of them (a clone per socket, dropped once its queue is full),
 * and on loopback the sender pays that delivery. phonetree pays it for every packet it sends
 * while the bench's pcap callers run, so the floor it is compared with must pay it too.
 *
 * Build: gcc -O2 -o floor floor.c -lpthread     Run: ./floor N SECONDS [--recv] [--raw K]
 * Uses 127.0.0.1 ports 40000.. and 44000.. (N each). --raw needs CAP_NET_RAW (root). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int n, seconds, with_recv, raw;
static int *eng, *peer;
static volatile int stop;

static double now_s(clockid_t c) { struct timespec t; clock_gettime(c, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int sock(int port) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
  if (s < 0 || bind(s, (void *)&a, sizeof a)) { perror("bind"); exit(2); }
  return s;
}
static struct sockaddr_in to(int port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
  return a;
}
static void drain(int s) {
  struct mmsghdr m[4]; struct iovec v[4]; static char b[4][2048];
  memset(m, 0, sizeof m);
  for (int i = 0; i < 4; i++) { v[i].iov_base = b[i]; v[i].iov_len = 2048; m[i].msg_hdr.msg_iov = &v[i]; m[i].msg_hdr.msg_iovlen = 1; }
  recvmmsg(s, m, 4, MSG_DONTWAIT, 0);
}

static void *peer_main(void *x) {
  (void)x;
  int ep = epoll_create1(0);
  for (int i = 0; i < n; i++) { struct epoll_event e = {.events = EPOLLIN, .data.u32 = i}; epoll_ctl(ep, EPOLL_CTL_ADD, peer[i], &e); }
  struct epoll_event ev[512]; char pkt[172]; memset(pkt, 0x55, sizeof pkt);
  double next = now_s(CLOCK_MONOTONIC), period = 0.020 / (n ? n : 1); int k = 0;
  while (!stop) {
    double t = now_s(CLOCK_MONOTONIC);
    if (with_recv) while (next <= t) { struct sockaddr_in a = to(40000 + k); sendto(peer[k], pkt, sizeof pkt, 0, (void *)&a, sizeof a); k = (k + 1) % n; next += period; }
    int ms = with_recv ? 1 : 10;
    int got = epoll_wait(ep, ev, 512, ms);
    for (int j = 0; j < got; j++) drain(peer[ev[j].data.u32]);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: floor N SECONDS [--recv] [--raw K]\n"); return 2; }
  n = atoi(argv[1]); seconds = atoi(argv[2]);
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "--recv")) with_recv = 1;
    else if (!strcmp(argv[i], "--raw") && i + 1 < argc) raw = atoi(argv[++i]);
    else { fprintf(stderr, "unknown argument %s\n", argv[i]); return 2; }
  }
  if (n < 1 || n > 4000 || seconds < 1 || raw < 0 || raw > 1000) { fprintf(stderr, "N must be 1..4000, SECONDS >= 1, K 0..1000\n"); return 2; }
  for (int i = 0; i < raw; i++) {   /* like sipp's pcap player: bound to 127.0.0.1, never read */
    int s = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    if (s < 0 || bind(s, (void *)&a, sizeof a)) { perror("raw socket"); return 2; }
  }
  eng = calloc(n, sizeof(int)); peer = calloc(n, sizeof(int));
  for (int i = 0; i < n; i++) { eng[i] = sock(40000 + i); peer[i] = sock(44000 + i); }
  pthread_t th; pthread_create(&th, 0, peer_main, 0);
  int ep = epoll_create1(0);
  for (int i = 0; i < n; i++) { struct epoll_event e = {.events = EPOLLIN, .data.u32 = i}; epoll_ctl(ep, EPOLL_CTL_ADD, eng[i], &e); }
  char pkt[172]; memset(pkt, 0x55, sizeof pkt);
  double *due = calloc((unsigned)n, sizeof(double)), t0 = now_s(CLOCK_MONOTONIC);
  for (int i = 0; i < n; i++) due[i] = t0 + 0.020 * i / n;   /* calls start spread over 20 ms */
  struct epoll_event ev[512];
  double c0 = now_s(CLOCK_THREAD_CPUTIME_ID), last_rx = 0; long sent = 0, rounds = 0;
  while (now_s(CLOCK_MONOTONIC) - t0 < seconds) {
    struct timespec nap = {0, 500000}; nanosleep(&nap, 0);
    double t = now_s(CLOCK_MONOTONIC);
    for (int i = 0; i < n; i++)
      while (due[i] <= t) { struct sockaddr_in a = to(44000 + i); sendto(eng[i], pkt, sizeof pkt, 0, (void *)&a, sizeof a); due[i] += 0.020; sent++; }
    if (with_recv && t - last_rx >= 0.001) {
      int got = epoll_wait(ep, ev, 512, 0);
      for (int j = 0; j < got; j++) drain(eng[ev[j].data.u32]);
      last_rx = t;
    }
    rounds++;
  }
  double cpu = now_s(CLOCK_THREAD_CPUTIME_ID) - c0;
  stop = 1; pthread_join(th, 0);
  printf("{\"floor_calls\":%d,\"floor_recv\":%s,\"floor_raw_sockets\":%d,\"floor_packets_sent\":%ld,\"floor_cpu_pct_core_per_call\":%.5f}\n",
         n, with_recv ? "true" : "false", raw, sent, 100.0 * cpu / (n * (double)seconds));
  return 0;
}
