# The fuzz targets (fuzz/<name>_fuzzer.cc) and the longest input each takes
# (libFuzzer's -max_len). Included by fuzz/CMakeLists.txt (the CAPSTAN_FUZZ
# build, which builds them) and by tests/CMakeLists.txt (the normal build,
# whose ctest runs them for a bounded time when they are built).
set(CAPSTAN_FUZZ_TARGETS
  etcd_request:4096
  wal_record:4096
  wal_segment:8192
  snapshot_receiver:4096
  bbolt_reader:16384
  etcd_snapshot_import:16384
  kube_json:65536
  kube_protobuf:4096
  quantity:128
  label_selector:1024
  field_selector:1024
  object_patch:4096)

# capstan_fuzz_tests(<dir holding the fuzzer binaries>): one ctest test per
# target, fuzz.<name>, label `fuzz`. Each replays the checked-in seeds and
# regressions, then fuzzes for $FUZZ_SECONDS (default 10) seconds; it fails
# on any crash, leak, sanitizer report, timeout or out-of-memory. A test whose
# binary is not built is skipped (`make fuzz-build` builds them).
function(capstan_fuzz_tests bin_dir)
  foreach(entry ${CAPSTAN_FUZZ_TARGETS})
    string(REPLACE ":" ";" parts ${entry})
    list(GET parts 0 name)
    list(GET parts 1 max_len)
    add_test(NAME fuzz.${name}
             COMMAND ${CMAKE_SOURCE_DIR}/fuzz/run_fuzzer.sh ${bin_dir}/${name}_fuzzer ${name} ${max_len})
    set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz SKIP_RETURN_CODE 77 TIMEOUT 900)
  endforeach()
endfunction()
