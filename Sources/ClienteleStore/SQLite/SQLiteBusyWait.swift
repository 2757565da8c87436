import Foundation
import GRDB

/// How a connection waits for another process's write lock: a try every millisecond until a timeout.
///
/// SQLite's own busy timeout (`sqlite3_busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50,
/// 50 and then 100 ms between attempts, so a writer that finds the lock taken for 3 ms may sleep
/// through 180 ms. Two workers share one file (and the relay's deletes take the same lock): with
/// the event streams live at 10,000 purchases/s, those sleeps were most of the latency — batches
/// of 40 events waited 190–255 ms for a lock held a few milliseconds. A try is one file-lock call,
/// so trying every millisecond costs nothing worth counting, and the longest waiter is not put
/// behind newer ones that try more often. The timeout is counted in tries: a sleep that overshoots
/// under load only lengthens the wait.
///
/// (Applies to the writer and the checkpointer; GRDB gives a pool's read-only connections a busy
/// mode of their own, and in WAL mode readers are not blocked by writers.)
enum SQLiteBusyWait {
    static let sleep: useconds_t = 1000

    /// The busy mode for connections that wait up to `timeout` seconds.
    static func mode(timeout: Double) -> Database.BusyMode {
        .callback(callback(timeout: timeout))
    }

    static func callback(timeout: Double) -> Database.BusyCallback {
        let tries = maximumTries(timeout: timeout)
        return { numberOfTries in
            guard numberOfTries < tries else { return false }
            usleep(sleep)
            return true
        }
    }

    /// The number of tries, a millisecond apart, that spans `timeout` seconds.
    static func maximumTries(timeout: Double) -> Int {
        max(0, Int((timeout * 1000).rounded(.up)))
    }
}
