import ClienteleDomain
import ClienteleKafka

/// What a worker knows of how far its stream has been read, per assigned partition, and so how
/// far it can declare it complete in event time (``InputBatch/completeBefore``).
///
/// A partition is complete up to its newest event's time, less the allowed lateness (events come
/// in time order within a partition, up to that lateness). A partition read to its end is complete
/// up to the moment it was seen there — at once when its newest event is recent (a live stream:
/// what occurs now is produced now), otherwise once it has stayed at its end for the idle time (a
/// quiet stream, or a history that has been loaded), so that a stream whose history is still being
/// produced does not count as complete.
struct StreamTracker {
    struct Partition {
        /// The newest event time read since this worker got the partition.
        var newest: Timestamp?
        /// When the partition was first seen at its end with nothing read since (wall clock).
        var atEndSince: Timestamp?
    }

    let settings: StreamAlignmentSettings
    private(set) var partitions: [Int32: Partition] = [:]
    /// What was last written per partition, and when (wall clock).
    private(set) var written: [Int32: Timestamp] = [:]
    private(set) var lastWriteAt: Timestamp?

    init(settings: StreamAlignmentSettings) {
        self.settings = settings
    }

    /// Forgets what was known of partitions that moved (assigned or revoked meanwhile): another
    /// member may have read them since.
    mutating func reset(_ moved: Set<Int32>) {
        for partition in moved {
            partitions[partition] = nil
            written[partition] = nil
        }
    }

    /// Keeps only the partitions still assigned.
    mutating func retain(_ assigned: Set<Int32>) {
        partitions = partitions.filter { assigned.contains($0.key) }
        written = written.filter { assigned.contains($0.key) }
        for partition in assigned where partitions[partition] == nil { partitions[partition] = Partition() }
    }

    /// Notes a poll: the newest event time per partition among its accepted events, and the
    /// partitions it read to their end, at wall time `polledAt`.
    mutating func observe(newest: [Int32: Timestamp], reachedEnd: Set<Int32>, polledAt: Timestamp) {
        for (partition, time) in newest {
            var state = partitions[partition] ?? Partition()
            state.newest = max(state.newest ?? time, time)
            state.atEndSince = nil
            partitions[partition] = state
        }
        for partition in reachedEnd {
            var state = partitions[partition] ?? Partition()
            if state.atEndSince == nil { state.atEndSince = polledAt }
            partitions[partition] = state
        }
    }

    /// The completeness each partition can be declared to have, as of wall time `now` (the last poll).
    func completeBefore(now: Timestamp) -> [Int32: Timestamp] {
        let lateness = milliseconds(settings.allowedLateness)
        let idle = milliseconds(settings.idleAfter)
        var result: [Int32: Timestamp] = [:]
        for (partition, state) in partitions {
            var complete = state.newest.map { $0.millisecondsSinceEpoch - lateness }
            if let since = state.atEndSince {
                let live = state.newest.map { $0.millisecondsSinceEpoch >= now.millisecondsSinceEpoch - idle } ?? false
                if live || now.millisecondsSinceEpoch - since.millisecondsSinceEpoch >= idle {
                    complete = max(complete ?? Int64.min, now.millisecondsSinceEpoch - lateness)
                }
            }
            if let complete { result[partition] = Timestamp(millisecondsSinceEpoch: complete) }
        }
        return result
    }

    /// The partitions whose completeness moved past what was last written.
    func advanced(_ proposal: [Int32: Timestamp]) -> [Int32: Timestamp] {
        proposal.filter { partition, time in written[partition].map { time > $0 } ?? true }
    }

    mutating func recordWritten(_ proposal: [Int32: Timestamp], at now: Timestamp) {
        for (partition, time) in proposal { written[partition] = max(written[partition] ?? time, time) }
        lastWriteAt = now
    }

    private func milliseconds(_ duration: Duration) -> Int64 { duration.milliseconds }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
