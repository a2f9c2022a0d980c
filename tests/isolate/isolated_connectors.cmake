# Connectors in plugin hosts: files, tcp_server, and the flaky test connector crashing
# (isolated_connectors.sh).
add_test(NAME e2e_isolated_connectors
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/isolated_connectors.sh $<TARGET_FILE:temblor> $<TARGET_FILE_DIR:tp_flaky>
                 ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e_isolated_connectors PROPERTIES LABELS "threaded;e2e" TIMEOUT 240)
