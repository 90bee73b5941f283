// Test-only LD_PRELOAD shim: every posix_memalign block (libtorch's CPU allocator, c10::alloc_cpu,
// uses it for tensors and for oneDNN's scratchpads) ends exactly at a PROT_NONE page, so a write
// one byte past its end faults at once. valgrind sees such overruns only in the kernels its
// emulated CPU can run (AVX2); this catches them in the AVX-512 kernels too. Blocks whose size is
// not a multiple of their alignment, or over 64 MiB, go to the normal allocator.
// Build: gcc -O2 -shared -fPIC guard-alloc.c -o guard-alloc.so -ldl -lpthread
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define SLOTS (1 << 20)  // open-addressing table of live guarded blocks (power of two)
#define PAGE 4096
#define MAX_GUARDED (64u << 20)

typedef struct {
  void* user;   // what the caller got
  void* base;   // the mapping
  size_t len;   // the mapping's length, guard page included
} Block;

static Block table[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static size_t slot_of(const void* p) { return ((uintptr_t)p >> 4) * 0x9E3779B97F4A7C15ull >> 44 & (SLOTS - 1); }

static int (*real_memalign)(void**, size_t, size_t);
static void (*real_free)(void*);

int posix_memalign(void** out, size_t align, size_t size) {
  if (!real_memalign) real_memalign = (int (*)(void**, size_t, size_t))dlsym(RTLD_NEXT, "posix_memalign");
  if (size == 0 || size > MAX_GUARDED || align == 0 || size % align != 0) return real_memalign(out, align, size);
  size_t data = (size + PAGE - 1) / PAGE * PAGE, len = data + PAGE;
  char* base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return ENOMEM;
  if (mprotect(base + data, PAGE, PROT_NONE) != 0) abort();
  void* user = base + data - size;  // aligned: data and size are both multiples of align
  pthread_mutex_lock(&lock);
  size_t i = slot_of(user);
  for (size_t n = 0; table[i].user != NULL && table[i].user != (void*)1; n++) {
    if (n == SLOTS) abort();  // table full
    i = (i + 1) & (SLOTS - 1);
  }
  table[i] = (Block){user, base, len};
  pthread_mutex_unlock(&lock);
  *out = user;
  return 0;
}

void free(void* p) {
  if (!real_free) real_free = (void (*)(void*))dlsym(RTLD_NEXT, "free");
  if (p == NULL) return;
  pthread_mutex_lock(&lock);
  size_t i = slot_of(p);
  for (size_t n = 0; table[i].user != NULL && n < SLOTS; n++) {
    if (table[i].user == p) {
      Block b = table[i];
      table[i].user = (void*)1;  // tombstone keeps later probes going
      pthread_mutex_unlock(&lock);
      munmap(b.base, b.len);
      return;
    }
    i = (i + 1) & (SLOTS - 1);
  }
  pthread_mutex_unlock(&lock);
  real_free(p);
}
