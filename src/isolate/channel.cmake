target_sources(temblor_runtime PRIVATE ${CMAKE_CURRENT_LIST_DIR}/channel.c)
