@testable import ClienteleRuntime
import Testing

@Suite("poll pace: how soon a process looks again for what another one wrote")
struct PollPaceTests {
    @Test("looks that find nothing double the wait up to the slowest; one that finds something goes back to the fastest")
    func backsOffAndResets() {
        var pace = PollPace(fastest: .milliseconds(5), slowest: .milliseconds(50))
        #expect(pace.next == .milliseconds(5))
        var waits: [Duration] = []
        for _ in 0..<6 {
            pace.foundNothing()
            waits.append(pace.next)
        }
        #expect(waits == [10, 20, 40, 50, 50, 50].map { .milliseconds($0) })
        pace.found()
        #expect(pace.next == .milliseconds(5))
    }

    @Test("a store slower to ask than the slowest wait is asked at the slowest wait, always")
    func fastestNeverAboveSlowest() {
        var pace = PollPace(fastest: .milliseconds(50), slowest: .milliseconds(20))
        #expect(pace.next == .milliseconds(20))
        pace.foundNothing()
        #expect(pace.next == .milliseconds(20))
        pace.found()
        #expect(pace.next == .milliseconds(20))
    }
}
