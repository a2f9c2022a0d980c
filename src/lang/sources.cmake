# Sources of the language core (lexer, parser, compiler, evaluator, queries, deployments).
set(TBR_LANG_SOURCES
  source.c
  lexer.c
  parser.c
  parse_expr.c
  parse_pattern.c
  parse_script.c
  eval.c
  eval_ops.c
  eval_path.c
  eval_match.c
  eval_patch.c
  script.c
  parse_query.c
  query_run.c
  parse_deploy.c
)
