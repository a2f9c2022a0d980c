# The wire format (src/isolate/wire.c): its unit test, and a microbenchmark that is built but
# not run by ctest (it prints ns per event: bench_wire ../shared/bench-data/data.json.xz).
tb_unit_test(test_wire ${CMAKE_CURRENT_LIST_DIR}/test_wire.c)
add_executable(bench_wire ${CMAKE_CURRENT_LIST_DIR}/bench_wire.c)
target_link_libraries(bench_wire PRIVATE temblor_runtime)
