/// How long to wait before the next look at the store for what another process wrote: the
/// fastest interval while looks find something, doubling after each look that finds nothing, up
/// to the slowest. Traffic is then picked up within the fastest interval, and an idle deployment
/// looks about as rarely as the slowest one says.
struct PollPace: Sendable, Equatable {
    let fastest: Duration
    let slowest: Duration
    /// The wait before the next look.
    private(set) var next: Duration

    init(fastest: Duration, slowest: Duration) {
        self.fastest = min(fastest, slowest)
        self.slowest = slowest
        self.next = self.fastest
    }

    /// The last look found something: look again soon.
    mutating func found() { next = fastest }

    /// The last look found nothing: wait twice as long, up to the slowest.
    mutating func foundNothing() { next = min(slowest, next * 2) }
}
