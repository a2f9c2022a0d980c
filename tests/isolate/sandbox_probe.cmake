# The sandbox seen from a plugin: sandbox_probe.c, an operator that tries what each event asks
# (read, write, socket, connect, shell) and reports the outcome, built into probe-lib/; and
# sandboxed.sh, which runs it in a plugin host under no grants and under some, with the real
# binary, and checks what the sandbox allowed and denied.
set(probe_dir ${CMAKE_CURRENT_BINARY_DIR}/probe-lib)
add_library(sandbox_probe MODULE ${CMAKE_CURRENT_LIST_DIR}/sandbox_probe.c)
target_include_directories(sandbox_probe PRIVATE ${PROJECT_SOURCE_DIR}/include)
set_target_properties(sandbox_probe PROPERTIES PREFIX "" OUTPUT_NAME "tb-operator-sandbox_probe"
                      LIBRARY_OUTPUT_DIRECTORY ${probe_dir} C_VISIBILITY_PRESET hidden)

add_test(NAME e2e_isolate_sandbox
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/sandboxed.sh $<TARGET_FILE:temblor> ${probe_dir} ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e_isolate_sandbox PROPERTIES LABELS "e2e" TIMEOUT 120)

# Plugins of an isolated plugin path are never mapped into the runtime (never_mapped.sh).
add_test(NAME e2e_isolate_never_mapped
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/never_mapped.sh $<TARGET_FILE:temblor> ${probe_dir} ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e_isolate_never_mapped PROPERTIES LABELS "e2e" TIMEOUT 120)
