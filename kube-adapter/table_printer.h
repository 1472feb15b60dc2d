// Server-side Table printing: turns stored objects into the meta.k8s.io
// Table that `kubectl get` asks for (Accept: ...;as=Table;g=meta.k8s.io),
// with the columns and cell values of Kubernetes'
// pkg/printers/internalversion/printers.go at v1.20.
//
// As in the apiserver, every column is always filled (the "wide" columns
// too, marked priority 1); kubectl hides priority-1 columns unless -o wide.
// Each row carries a PartialObjectMetadata with the object's metadata, which
// kubectl needs for --show-labels and -L.
//
// Nothing here throws: malformed objects give "<unknown>"-style cells.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "kube-adapter/json.h"

namespace capstan::kube {

// A Table for `objects` of `kind` in API `group` ("" for core). Known
// built-in kinds get Kubernetes' own columns; anything else (roles,
// limitranges, CRDs themselves, unknown kinds) gets the apiserver's default
// convertor columns "Name" and "Created At" (an RFC3339 date).
// Custom resources should use ToTableWithColumns instead: the apiserver
// serves them with the CRD's printer columns, "Age" by default.
// metadata.continue is omitted when `continue_token` is empty, and
// metadata.remainingItemCount when `remaining_item_count` < 0.
// `now` is the clock the AGE cells are measured against.
Json ToTable(const std::string& group, const std::string& kind, const std::vector<Json>& objects,
             const std::string& resource_version, const std::string& continue_token,
             int64_t remaining_item_count, std::chrono::system_clock::time_point now);

// A Table for custom resources, from a CRD version's additionalPrinterColumns
// (the JSON array: [{name,type,format,description,priority,jsonPath}]). An
// empty or missing array gives the single "Age" column the apiextensions
// apiserver serves by default. Only simple JSON paths (".a.b", ".a[0].b",
// optionally wrapped in {}) are evaluated; anything else gives null cells.
Json ToTableWithColumns(const Json& additional_printer_columns, const std::vector<Json>& objects,
                        const std::string& resource_version, const std::string& continue_token,
                        int64_t remaining_item_count, std::chrono::system_clock::time_point now);

// Rewrites a table from ToTable/ToTableWithColumns to answer a request that
// negotiated `version` ("v1" or "v1beta1"): the Table and its row objects
// must carry apiVersion meta.k8s.io/<version>.
void SetTableVersion(const std::string& version, Json* table);

// apimachinery's duration.HumanDuration: "45s", "5m10s", "3h", "2d5h", "3y12d".
std::string HumanDuration(std::chrono::seconds d);

// True when the Accept header's first usable media range asks for a Table
// (application/json;as=Table;g=meta.k8s.io;v=v1|v1beta1). Sets *version
// (when non-null) to the asked version. A plain application/json range
// listed first means the client prefers a plain list: false.
bool WantsTable(const std::string& accept_header, std::string* version = nullptr);

// Parses an RFC3339 timestamp ("2026-11-27T01:02:03Z", fractional seconds
// and numeric offsets allowed). False when `text` is not one.
bool ParseRfc3339(const std::string& text, std::chrono::system_clock::time_point* out);

}  // namespace capstan::kube
