# The shared-memory channel (src/isolate/channel.c): tested between real processes (the test
# forks and execs itself as the plugin host), so it is labelled threaded and runs under TSan.
tb_unit_test(test_channel ${CMAKE_CURRENT_LIST_DIR}/test_channel.c)
set_tests_properties(test_channel PROPERTIES LABELS threaded TIMEOUT 300)
# Throughput and latency between two processes, run by hand: bench_channel [seconds]
add_executable(bench_channel ${CMAKE_CURRENT_LIST_DIR}/bench_channel.c)
target_link_libraries(bench_channel PRIVATE temblor_runtime)
