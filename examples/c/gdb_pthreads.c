/* For the gdb tests (tests/tests/gdb.rs compiles it with cc -g -O0 -pthread): a worker thread
 * folds values through a function while main waits for it, so breakpoint hits in the worker
 * have the same values whatever the schedule, and there are two threads to list. */
#include <pthread.h>
#include <stdio.h>

static long total;

__attribute__((noinline)) static long fold(long acc, int k) {
    return acc * 3 + k;
}

static void *worker(void *arg) {
    int rounds = *(int *)arg;
    long acc = 1;
    for (int k = 1; k <= rounds; k++) {
        acc = fold(acc, k);
        total = acc;
    }
    return NULL;
}

int main(void) {
    int rounds = 6;
    pthread_t t;
    if (pthread_create(&t, NULL, worker, &rounds) != 0)
        return 1;
    pthread_join(t, NULL);
    printf("total %ld\n", total);
    return 0;
}
