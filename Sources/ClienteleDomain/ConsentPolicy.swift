/// Marketing tasks need the client's consent; service tasks do not.
///
/// Applied last by every rule set: each marketing task is checked against the consent that stood
/// when its cause happened (the task's `createdAt`), so a task judged late — a churn threshold
/// crossed before a withdrawal, found after it — gets the answer it would have got on time. A task
/// created while consent was withdrawn becomes a ``ClientEffect/taskSuppressed(_:reason:)`` so an
/// auditor can see what was not sent and why.
public enum ConsentPolicy {
    public static let withdrawnReason = "consent_withdrawn"

    public static func enforce(_ effects: [ClientEffect], for client: ClientState) -> [ClientEffect] {
        let contacts = client.contacts
        guard !contacts.consentStatements.isEmpty else { return effects }
        return effects.map { effect in
            if case .task(let task) = effect, task.kind.isMarketing, !contacts.allowsMarketing(at: task.createdAt) {
                return .taskSuppressed(task, reason: withdrawnReason)
            }
            return effect
        }
    }
}
