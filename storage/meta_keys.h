// Keys of the store's `meta` table. Values are 8-byte big-endian numbers.
// Shared by MvccStore and the code that reads or fills the tables in bulk
// (StoreView, BulkLoader), so the layout is written down once.
#pragma once

#include <string_view>

namespace capstan {

// The last log entry applied to the store, and its term.
inline constexpr std::string_view kAppliedIndexKey = "applied_index";
inline constexpr std::string_view kAppliedTermKey = "applied_term";
// The latest compaction applied (the key index is compacted to it) and the
// latest one whose physical deletion has finished.
inline constexpr std::string_view kScheduledCompactKey = "scheduled_compact_rev";
inline constexpr std::string_view kFinishedCompactKey = "finished_compact_rev";

}  // namespace capstan
