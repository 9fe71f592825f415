// The lean TAP binding: just what the frame path needs, nothing else (src/net/tap-native.ts loads it).
//
//   open(name, vnetHdr, offloads) -> [fd, name]   a TAP (IFF_TAP | IFF_NO_PI, optionally IFF_VNET_HDR
//                                                 with TUNSETOFFLOAD), never persistent
//   startReader(fd, ring, maxRecord, onReady)     a POSIX thread reads frames into `ring` (a Uint8Array over
//                                                 a SharedArrayBuffer) and calls onReady on the main thread
//                                                 when the ring goes from empty to not empty
//   stopReader(handle)                            wakes the thread, joins it, releases the callback
//   write(fd, frame) -> n | -errno                one frame, one write(2)
//   writeVnet(fd, frame, flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset) -> n | -errno
//                                                 a virtio_net_hdr and the frame in one writev(2), so a TCP
//                                                 super-segment (TSO) or a partial checksum reaches the kernel
//   lockDown() -> capsDropped                     for the privilege drop (src/privileges.ts): sets no_new_privs
//                                                 and empties the capability bounding set of the calling
//                                                 thread (as far as CAP_SETPCAP allows), so that no later
//                                                 execve can gain privileges
//   clearCaps()                                   empties the calling thread's effective, permitted and
//                                                 inheritable capabilities (capset), for a process that holds
//                                                 capabilities without being root
//
// Ring layout (all int32, little-endian): ctrl[0] HEAD, ctrl[1] TAIL (byte positions, free-running modulo
// 2^32), ctrl[2] SLEEPING (the main thread sets 1 before it sleeps), ctrl[3] READ_ERRNO, ctrl[4] FULL_WAITS,
// ctrl[5] TOO_BIG (frames longer than maxRecord, dropped: the kernel reports their whole length);
// then at byte 64 the data area, a power of two in size. A record is an int32 length then that many bytes,
// padded to 8; length -1 marks "the rest of the area is unused, go on at its start".
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define CTRL_BYTES 64
#define HEAD 0
#define TAIL 1
#define SLEEPING 2
#define READ_ERRNO 3
#define FULL_WAITS 4
#define TOO_BIG 5

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  char code[24];
  snprintf(code, sizeof code, "%s", err == EPERM ? "EPERM" : err == EACCES ? "EACCES" : err == ENOENT ? "ENOENT" : err == EBUSY ? "EBUSY" : "EIO");
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value open_tap(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char name[IFNAMSIZ] = {0};
  size_t len = 0;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "open(name, vnetHdr, offloads)");
    return NULL;
  }
  bool vnet = false;
  uint32_t offloads = 0;
  napi_get_value_bool(env, argv[1], &vnet);
  napi_get_value_uint32(env, argv[2], &offloads);

  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, "open /dev/net/tun", errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, len < IFNAMSIZ ? len : IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "TUNSETIFF", e);
  }
  if (vnet) {
    int hdrsz = (int)sizeof(struct virtio_net_hdr);
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdrsz) < 0 || ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0) {
      int e = errno;
      close(fd);
      return throw_errno(env, "TUNSETOFFLOAD", e);
    }
  }
  // Reads never block the thread past a stop: it waits in poll(2) with an eventfd beside the TAP.
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);

  napi_value result, jfd, jname;
  napi_create_array_with_length(env, 2, &result);
  napi_create_int32(env, fd, &jfd);
  napi_create_string_utf8(env, ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ), &jname);
  napi_set_element(env, result, 0, jfd);
  napi_set_element(env, result, 1, jname);
  return result;
}

typedef struct {
  int fd;
  int stop_fd;
  volatile int stop;
  uint8_t *base;      // the ring: ctrl then data
  uint32_t size;      // data area bytes, a power of two
  uint32_t max_record;
  pthread_t thread;
  napi_threadsafe_function on_ready;
  napi_ref ring_ref;  // keeps the SharedArrayBuffer alive while the thread writes into it
  bool joined;
  bool hook_added;    // the env cleanup hook that joins the thread before Node tears the callback down
} reader_t;

static inline int32_t *ctrl(reader_t *r) { return (int32_t *)r->base; }
static inline uint32_t align8(uint32_t n) { return (n + 7u) & ~7u; }

static void *reader_main(void *arg) {
  reader_t *r = arg;
  int32_t *c = ctrl(r);
  uint8_t *data = r->base + CTRL_BYTES;
  const uint32_t need = align8(4 + r->max_record);
  struct pollfd pfd[2] = {{.fd = r->fd, .events = POLLIN}, {.fd = r->stop_fd, .events = POLLIN}};
  while (!__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE)) {
    uint32_t head = (uint32_t)__atomic_load_n(&c[HEAD], __ATOMIC_RELAXED);
    uint32_t tail = (uint32_t)__atomic_load_n(&c[TAIL], __ATOMIC_ACQUIRE);
    uint32_t free_bytes = r->size - (head - tail);
    uint32_t off = head & (r->size - 1);
    uint32_t contiguous = r->size - off;
    uint32_t want = contiguous < need ? contiguous + need : need;
    if (free_bytes < want) {
      // The main thread is behind: wait for it (the kernel queues, then drops, meanwhile).
      __atomic_add_fetch(&c[FULL_WAITS], 1, __ATOMIC_RELAXED);
      struct timespec ts = {0, 50000};
      nanosleep(&ts, NULL);
      continue;
    }
    if (contiguous < need) {
      *(int32_t *)(data + off) = -1;
      __atomic_store_n(&c[HEAD], (int32_t)(head + contiguous), __ATOMIC_RELEASE);
      continue;
    }
    ssize_t n = read(r->fd, data + off + 4, r->max_record);
    if (n < 0) {
      if (errno == EAGAIN) {
        poll(pfd, 2, -1);
        continue;
      }
      if (errno == EINTR) continue;
      __atomic_store_n(&c[READ_ERRNO], errno, __ATOMIC_RELEASE);
      napi_call_threadsafe_function(r->on_ready, NULL, napi_tsfn_nonblocking);
      break;
    }
    if (n == 0) continue;
    if ((size_t)n > r->max_record) {
      __atomic_add_fetch(&c[TOO_BIG], 1, __ATOMIC_RELAXED);
      continue;
    }
    *(int32_t *)(data + off) = (int32_t)n;
    __atomic_store_n(&c[HEAD], (int32_t)(head + align8(4 + (uint32_t)n)), __ATOMIC_SEQ_CST);
    int32_t one = 1;
    if (__atomic_compare_exchange_n(&c[SLEEPING], &one, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
      napi_call_threadsafe_function(r->on_ready, NULL, napi_tsfn_nonblocking);
    }
  }
  return NULL;
}

static void stop_and_join(reader_t *r) {
  if (r->joined) return;
  r->joined = true;
  __atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
  uint64_t one = 1;
  ssize_t ignored = write(r->stop_fd, &one, sizeof one);
  (void)ignored;
  pthread_join(r->thread, NULL);
  close(r->stop_fd);
}

// At environment teardown (process.exit, or a worker ending) without a stopReader: Node's own cleanup of the
// threadsafe function runs after this hook (hooks run in reverse order of registration, and this one was added
// after the function was made), so the thread is joined before anything it calls into is freed.
static void cleanup_hook(void *arg) {
  reader_t *r = arg;
  r->hook_added = false;
  stop_and_join(r);
}

static void reader_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  reader_t *r = data;
  if (r->hook_added) {
    napi_remove_env_cleanup_hook(env, cleanup_hook, r);
    r->hook_added = false;
  }
  stop_and_join(r);
  if (r->ring_ref != NULL) napi_delete_reference(env, r->ring_ref);
  free(r);
}

static napi_value start_reader(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  uint32_t max_record = 0;
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (argc < 4 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array ||
      napi_get_value_uint32(env, argv[2], &max_record) != napi_ok) {
    napi_throw_type_error(env, NULL, "startReader(fd, ring: Uint8Array, maxRecord, onReady)");
    return NULL;
  }
  size_t size = length - CTRL_BYTES;
  if (length <= CTRL_BYTES || (size & (size - 1)) != 0 || size > 0x40000000 || max_record == 0 || max_record > 0x100000 ||
      align8(4 + max_record) * 2 > size ||
      ((uintptr_t)data & 7) != 0) {
    napi_throw_range_error(env, NULL, "ring: 64 control bytes then a power-of-two data area, at least two records");
    return NULL;
  }
  reader_t *r = calloc(1, sizeof *r);
  if (r == NULL) return throw_errno(env, "startReader", ENOMEM);
  r->fd = fd;
  r->base = data;
  r->size = (uint32_t)size;
  r->max_record = max_record;
  r->stop_fd = eventfd(0, EFD_CLOEXEC);
  if (r->stop_fd < 0) {
    free(r);
    return throw_errno(env, "eventfd", errno);
  }
  napi_create_reference(env, argv[1], 1, &r->ring_ref);
  napi_value name;
  napi_create_string_utf8(env, "tap-reader", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[3], NULL, name, 0, 1, NULL, NULL, NULL, NULL, &r->on_ready) != napi_ok) {
    close(r->stop_fd);
    napi_delete_reference(env, r->ring_ref);
    free(r);
    napi_throw_error(env, NULL, "cannot create the reader's callback");
    return NULL;
  }
  int err = pthread_create(&r->thread, NULL, reader_main, r);
  if (err != 0) {
    close(r->stop_fd);
    napi_release_threadsafe_function(r->on_ready, napi_tsfn_abort);
    napi_delete_reference(env, r->ring_ref);
    free(r);
    return throw_errno(env, "pthread_create", err);
  }
  if (napi_add_env_cleanup_hook(env, cleanup_hook, r) == napi_ok) r->hook_added = true;
  napi_value handle;
  napi_create_external(env, r, reader_finalize, NULL, &handle);
  return handle;
}

static napi_value stop_reader(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  reader_t *r = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&r) != napi_ok || r == NULL) {
    napi_throw_type_error(env, NULL, "stopReader(handle)");
    return NULL;
  }
  if (r->hook_added) {
    napi_remove_env_cleanup_hook(env, cleanup_hook, r);
    r->hook_added = false;
  }
  if (!r->joined) {
    stop_and_join(r);
    // The thread is gone: nothing calls back any more, and the process need not stay alive for it.
    napi_release_threadsafe_function(r->on_ready, napi_tsfn_release);
  }
  return NULL;
}

// The arguments every write takes first, (fd, frame: Uint8Array), and `want - 2` more into argv[2..].
static bool write_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, int32_t *fd, void **data, size_t *len) {
  size_t argc = want;
  napi_typedarray_type type;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= want &&
         napi_get_value_int32(env, argv[0], fd) == napi_ok &&
         napi_get_typedarray_info(env, argv[1], &type, len, data, NULL, NULL) == napi_ok && type == napi_uint8_array;
}

static napi_value result_of(napi_env env, ssize_t n) {
  napi_value out;
  napi_create_int32(env, n < 0 ? -errno : (int32_t)n, &out);
  return out;
}

static napi_value write_frame(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd = -1;
  void *data = NULL;
  size_t len = 0;
  if (!write_args(env, info, 2, argv, &fd, &data, &len)) {
    napi_throw_type_error(env, NULL, "write(fd, frame: Uint8Array)");
    return NULL;
  }
  return result_of(env, write(fd, data, len));
}

static napi_value write_vnet(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  int32_t fd = -1;
  void *data = NULL;
  size_t len = 0;
  uint32_t f[6] = {0};
  if (!write_args(env, info, 8, argv, &fd, &data, &len)) {
    napi_throw_type_error(env, NULL, "writeVnet(fd, frame, flags, gsoType, hdrLen, gsoSize, csumStart, csumOffset)");
    return NULL;
  }
  for (int i = 0; i < 6; i++) napi_get_value_uint32(env, argv[2 + i], &f[i]);
  struct virtio_net_hdr h = {
      .flags = (uint8_t)f[0], .gso_type = (uint8_t)f[1], .hdr_len = (uint16_t)f[2],
      .gso_size = (uint16_t)f[3], .csum_start = (uint16_t)f[4], .csum_offset = (uint16_t)f[5],
  };
  struct iovec iov[2] = {{&h, sizeof h}, {data, len}};
  ssize_t n = writev(fd, iov, 2);
  return result_of(env, n < 0 ? n : n - (ssize_t)sizeof h);
}

// Capability numbers are below 64: the kernel's sets are two 32-bit words (_LINUX_CAPABILITY_U32S_3).
#define MAX_CAPS 64

static napi_value lock_down(napi_env env, napi_callback_info info) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return throw_errno(env, "prctl(PR_SET_NO_NEW_PRIVS)", errno);
  // Every capability the kernel knows, from CAP_CHOWN (0) up to the first it rejects. Without CAP_SETPCAP (a
  // process that is not root) the set cannot be changed: no_new_privs alone then stops execve from gaining any.
  uint32_t dropped = 0;
  for (int cap = 0; cap < MAX_CAPS; cap++) {
    if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) break;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EPERM) break;
      return throw_errno(env, "prctl(PR_CAPBSET_DROP)", errno);
    }
    dropped++;
  }
  napi_value result;
  napi_create_uint32(env, dropped, &result);
  return result;
}

static napi_value clear_caps(napi_env env, napi_callback_info info) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data) != 0) return throw_errno(env, "capset", errno);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, open_tap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"startReader", NULL, start_reader, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stopReader", NULL, stop_reader, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, write_frame, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeVnet", NULL, write_vnet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lockDown", NULL, lock_down, NULL, NULL, NULL, napi_enumerable, NULL},
      {"clearCaps", NULL, clear_caps, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value vnet_size;
  napi_create_uint32(env, sizeof(struct virtio_net_hdr), &vnet_size);
  napi_set_named_property(env, exports, "VNET_HDR_LEN", vnet_size);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
