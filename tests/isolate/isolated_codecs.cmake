# Codecs and processors in plugin hosts give what they give in process (isolated_codecs.sh).
add_test(NAME e2e_isolated_codecs
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/isolated_codecs.sh $<TARGET_FILE:temblor> ${PROJECT_SOURCE_DIR})
set_tests_properties(e2e_isolated_codecs PROPERTIES LABELS "threaded;e2e" TIMEOUT 180)
