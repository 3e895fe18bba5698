// Contend.java: a Java host with real threads (tests/integration/test_realhosts.c).
// Four threads increment one counter inside a synchronized block and another
// under a ReentrantLock, with a little work while holding each, so they surely
// contend; the main thread joins them and prints the totals (deterministic).
import java.util.concurrent.locks.ReentrantLock;

public class Contend {
    static final Object monitor = new Object();
    static final ReentrantLock lock = new ReentrantLock();
    static long syncCount, lockCount, work;

    static long spin(long x) {
        for (int i = 0; i < 200; i++)
            x = x * 6364136223846793005L + 1442695040888963407L;
        return x;
    }

    public static void main(String[] args) throws InterruptedException {
        final int nthreads = 4, iters = 20000;
        Thread[] ts = new Thread[nthreads];
        for (int t = 0; t < nthreads; t++) {
            final long seed = t;
            ts[t] = new Thread(() -> {
                long x = seed;
                for (int i = 0; i < iters; i++) {
                    synchronized (monitor) {
                        syncCount++;
                        x = spin(x);
                    }
                    lock.lock();
                    try {
                        lockCount++;
                        x = spin(x);
                    } finally {
                        lock.unlock();
                    }
                }
                synchronized (monitor) {
                    work ^= x;
                }
            }, "contender-" + t);
            ts[t].start();
        }
        for (Thread t : ts)
            t.join();
        System.out.println("synchronized: " + syncCount + ", ReentrantLock: " + lockCount);
        System.out.println("threads joined: " + nthreads + ", work " + Long.toHexString(work));
    }
}
