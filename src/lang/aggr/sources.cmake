# Sources of the aggregate functions of queries (aggr::stats, aggr::win); src/CMakeLists.txt
# adds them to the runtime.
set(TBR_AGGR_SOURCES
  registry.c
  stats.c
  hist.c
  win.c
)
