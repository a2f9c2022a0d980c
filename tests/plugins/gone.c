/* gone.c - libtb_gone.so: a dependency the missing-dependency plugin links against, kept out
 * of every path the dynamic linker searches at run time. */
int tb_gone_answer(void);
__attribute__((visibility("default"))) int tb_gone_answer(void) { return 0; }
