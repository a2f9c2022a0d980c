tb_unit_test(test_sandbox ${CMAKE_CURRENT_LIST_DIR}/test_sandbox.c)
