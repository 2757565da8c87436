import Foundation
import GRDB

/// How a connection waits for another process's write lock: short, even sleeps until a timeout.
///
/// SQLite's own busy timeout (`sqlite3_busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50,
/// 50 and then 100 ms between attempts, so a writer that finds the lock taken for 3 ms may sleep
/// through 180 ms. Two workers share one file (and the relay's deletes take the same lock): with
/// the event streams live at 10,000 purchases/s, those sleeps were most of the latency — batches
/// of 40 events waited 190–255 ms for a lock held a few milliseconds. Here a waiter tries again
/// every millisecond for its first two seconds, then every 10 ms, until `timeout` has passed
/// (counted in tries: a sleep that overshoots under load only lengthens the wait).
enum SQLiteBusyWait {
    /// Tries at 1 ms apart, then at 10 ms.
    static let fineTries = 2000
    static let fineSleep: useconds_t = 1000
    static let coarseSleep: useconds_t = 10_000

    /// The busy mode for connections that wait up to `timeout` seconds.
    static func mode(timeout: Double) -> Database.BusyMode {
        .callback(callback(timeout: timeout))
    }

    static func callback(timeout: Double) -> Database.BusyCallback {
        let tries = maximumTries(timeout: timeout)
        return { numberOfTries in
            guard numberOfTries < tries else { return false }
            usleep(numberOfTries < fineTries ? fineSleep : coarseSleep)
            return true
        }
    }

    /// The number of tries that spans `timeout` seconds with the sleeps above.
    static func maximumTries(timeout: Double) -> Int {
        let milliseconds = max(0, Int((timeout * 1000).rounded(.up)))
        if milliseconds <= fineTries { return milliseconds }
        return fineTries + (milliseconds - fineTries + 9) / 10
    }
}
