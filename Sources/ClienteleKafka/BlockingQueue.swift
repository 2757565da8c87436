import Dispatch

extension DispatchQueue {
    /// Runs a blocking librdkafka call on this queue (never on Swift's cooperative pool) and
    /// returns its result to the caller.
    func perform<T: Sendable>(_ body: @escaping @Sendable () -> Result<T, Error>) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            self.async { continuation.resume(with: body()) }
        }
    }

    /// Runs a blocking call that cannot fail on this queue.
    func perform(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            self.async {
                body()
                continuation.resume()
            }
        }
    }
}
