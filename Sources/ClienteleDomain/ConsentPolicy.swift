/// Marketing tasks need the client's consent; service tasks do not.
///
/// Applied last by every rule set: while consent is withdrawn, each marketing task becomes a
/// ``ClientEffect/taskSuppressed(_:reason:)`` so an auditor can see what was not sent and why.
public enum ConsentPolicy {
    public static let withdrawnReason = "consent_withdrawn"

    public static func enforce(_ effects: [ClientEffect], for client: ClientState) -> [ClientEffect] {
        guard !client.contacts.allowsMarketing else { return effects }
        return effects.map { effect in
            if case .task(let task) = effect, task.kind.isMarketing {
                return .taskSuppressed(task, reason: withdrawnReason)
            }
            return effect
        }
    }
}
