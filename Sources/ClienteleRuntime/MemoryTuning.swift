#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// How the worker processes use glibc's allocator.
enum MemoryTuning {
    /// Malloc arenas (glibc's default is 8 per core): one, shared by every thread.
    static let arenas: Int32 = 1

    /// Allocations from this size up get pages of their own, returned when freed.
    static let mmapThreshold: Int32 = 256 * 1024

    /// Sets up glibc's allocator for a worker; call it first, before other threads allocate.
    ///
    /// - One arena: a batch is decoded on one thread, applied on the store's and published on the
    ///   relay's: with an arena per thread, what one thread frees stays reserved in its arena for
    ///   that thread. Measured on the 300,000-purchase benchmark, the worker's peak resident memory
    ///   was 517 MiB with glibc's default and 337 MiB with two arenas; with 1,000,000 new clients
    ///   (and the threshold below) 355–362 MiB with two and 256–278 MiB with one, events/s within
    ///   the machine's noise (each thread's cache of small blocks keeps most allocations off the
    ///   shared lock). `MALLOC_ARENA_MAX` overrides it.
    /// - A fixed mmap threshold: glibc raises its threshold each time a large block is freed (up to
    ///   32 MiB), after which a batch's large arrays (effects, states, rows: megabytes each) come from
    ///   the heap, where the small allocations around them keep the freed space from being
    ///   returned. Fixed at 256 KiB, they are mapped and unmapped whole: with 1,000,000 new clients
    ///   the peak went from 399–416 MiB to 355–362 MiB (64 KiB: 380 MiB). `MALLOC_MMAP_THRESHOLD_`
    ///   overrides it.
    static func configureAllocator() {
        #if canImport(Glibc)
        let environment = ProcessInfo.processInfo.environment
        if environment["MALLOC_ARENA_MAX"] == nil { _ = glibcMallopt(mArenaMax, arenas) }
        if environment["MALLOC_MMAP_THRESHOLD_"] == nil { _ = glibcMallopt(mMmapThreshold, mmapThreshold) }
        #endif
    }

    #if canImport(Glibc)
    /// `M_ARENA_MAX` and `M_MMAP_THRESHOLD` from `<malloc.h>`, which the Glibc module does not export.
    private static let mArenaMax: Int32 = -8
    private static let mMmapThreshold: Int32 = -3
    #endif
}

#if canImport(Glibc)
/// glibc's `int mallopt(int param, int value)`; `<malloc.h>` is not part of the Glibc module.
@_silgen_name("mallopt")
private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
