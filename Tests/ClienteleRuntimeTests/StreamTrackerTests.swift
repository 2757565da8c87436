import ClienteleDomain
@testable import ClienteleRuntime
import Testing

@Suite("stream tracker: how far a worker declares its stream complete")
struct StreamTrackerTests {
    static let now = Timestamp(rfc3339: "2026-06-01T12:00:00Z")!
    static func ago(seconds: Int64) -> Timestamp { now.adding(seconds: -seconds) }

    @Test("a partition is complete up to its newest event, less the allowed lateness")
    func newestLessLateness() {
        var tracker = StreamTracker(settings: StreamAlignmentSettings(allowedLateness: .seconds(2), idleAfter: .seconds(30)))
        tracker.retain([0, 1])
        let old = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!
        tracker.observe(newest: [0: old], reachedEnd: [], polledAt: Self.now)
        #expect(tracker.completeBefore(now: Self.now) == [0: old.adding(seconds: -2)])
    }

    @Test("read to its end: a live partition is complete up to now at once, one with old events only after the idle time")
    func atEnd() {
        var tracker = StreamTracker(settings: StreamAlignmentSettings(idleAfter: .seconds(30)))
        tracker.retain([0, 1, 2])
        let history = Timestamp(rfc3339: "2026-01-01T00:00:00Z")!
        tracker.observe(newest: [0: Self.ago(seconds: 1), 1: history], reachedEnd: [0, 1, 2], polledAt: Self.now)
        var complete = tracker.completeBefore(now: Self.now)
        #expect(complete[0] == Self.now)
        #expect(complete[1] == history)
        #expect(complete[2] == nil)  // nothing read, not yet idle long enough
        complete = tracker.completeBefore(now: Self.now.adding(seconds: 31))
        #expect(complete[1] == Self.now.adding(seconds: 31) && complete[2] == Self.now.adding(seconds: 31))
        // A new message ends the idle state.
        tracker.observe(newest: [1: history.adding(seconds: 60)], reachedEnd: [], polledAt: Self.now.adding(seconds: 32))
        #expect(tracker.completeBefore(now: Self.now.adding(seconds: 40))[1] == history.adding(seconds: 60))
    }

    @Test("a partition that moved to another member and back is known afresh; what was written is not written again")
    func movedAndWritten() {
        var tracker = StreamTracker(settings: StreamAlignmentSettings(idleAfter: .seconds(1)))
        tracker.retain([0])
        tracker.observe(newest: [:], reachedEnd: [0], polledAt: Self.ago(seconds: 10))
        let proposal = tracker.completeBefore(now: Self.now)
        #expect(proposal == [0: Self.now])
        tracker.recordWritten(proposal, at: Self.now)
        #expect(tracker.advanced(proposal).isEmpty)
        #expect(tracker.advanced([0: Self.now.adding(seconds: 1)]) == [0: Self.now.adding(seconds: 1)])
        tracker.reset([0])
        #expect(tracker.completeBefore(now: Self.now).isEmpty)
        tracker.retain([])
        #expect(tracker.partitions.isEmpty)
    }
}
