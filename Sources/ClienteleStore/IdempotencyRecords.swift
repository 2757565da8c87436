import ClienteleDomain

/// The backend-neutral part of the idempotency records: which of a batch's events are new, and
/// which of the others are conflicts rather than redeliveries.
enum IdempotencyRecords {
    /// Where and with what content an event id was first accepted.
    struct FirstRecord {
        var content: [UInt8]
        var partition: Int32
        var offset: Int64
    }

    /// Splits the batch by the ids whose record this transaction inserted (`inserted`): the first
    /// entry of each such id is fresh; every other entry was seen before (its index is returned).
    static func split(_ batch: InputBatch, inserted: Set<String>) -> (fresh: [InputBatch.Entry], seenBefore: [Int]) {
        var firstTime = inserted
        var fresh: [InputBatch.Entry] = []
        var seenBefore: [Int] = []
        fresh.reserveCapacity(firstTime.count)
        for (index, entry) in batch.entries.enumerated() {
            if firstTime.remove(entry.event.eventId) != nil { fresh.append(entry) } else { seenBefore.append(index) }
        }
        return (fresh, seenBefore)
    }

    /// Among the entries at `indices` (seen before), those whose content differs from the first
    /// record's (`first`, by event id): another event under a seen id, named with where the first
    /// was read. A record of the first release (16-byte fingerprint) is compared with its own
    /// fingerprint; the entry that wrote the record itself is a redelivery.
    static func conflicts(
        among indices: [Int], of batch: InputBatch, fingerprints: [[UInt8]], key: DeploymentKey, first: [String: FirstRecord]
    ) -> [ConflictingDuplicate] {
        indices.compactMap { index in
            let entry = batch.entries[index]
            guard let original = first[entry.event.eventId],
                  original.content != (original.content.count == DeploymentKey.contentFingerprintLength
                                       ? fingerprints[index] : key.legacyFingerprint(entry.event)),
                  !(original.partition == entry.partition && original.offset == entry.offset) else { return nil }
            return ConflictingDuplicate(
                stream: batch.stream, eventId: entry.event.eventId, partition: entry.partition, offset: entry.offset,
                firstPartition: original.partition, firstOffset: original.offset)
        }
    }
}
