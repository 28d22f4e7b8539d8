# References for tests/gee/test_corner_cases.py, computed with R and geepack (Debian r-cran-geepack).
#   Rscript tests/gee/r/geepack_corner_cases.R /tmp/epilepsy_long.csv
# The epilepsy CSV is bayesglmm.datasets.load_epilepsy() written with to_csv(index=False).
suppressPackageStartupMessages(library(geepack))
options(digits = 12)
args <- commandArgs(trailingOnly = TRUE)
epi <- read.csv(args[1])
epi <- epi[order(epi$id, epi$time), ]
# geepack's defaults (maxit 25) stop before convergence here (un$geese$error is 1); run it out:
un <- geeglm(y ~ time + trt + trt:time + offset(t), id = id, waves = time, data = epi,
             family = poisson, corstr = "unstructured", control = geese.control(maxit = 10000, epsilon = 1e-12))
cat("epilepsy unstructured error code:", un$geese$error, "\n")
cat("epilepsy unstructured beta:", format(coef(un), digits = 12), "\n")
cat("epilepsy unstructured se:", format(sqrt(diag(un$geese$vbeta)), digits = 12), "\n")
cat("epilepsy unstructured alpha:", format(un$geese$alpha, digits = 12), "\n")
cat("epilepsy unstructured scale:", format(un$geese$gamma, digits = 12), "\n")
data(ohio)
ar <- geeglm(resp ~ age + smoke + age:smoke, id = id, data = ohio, family = binomial, corstr = "ar1",
             control = geese.control(maxit = 1000, epsilon = 1e-12))
cat("ohio ar1 beta:", format(coef(ar), digits = 12), "\n")
cat("ohio ar1 se:", format(sqrt(diag(ar$geese$vbeta)), digits = 12), "\n")
cat("ohio ar1 alpha:", format(ar$geese$alpha, digits = 12), "\n")
cat("geepack", as.character(packageVersion("geepack")), "R", R.version.string, "\n")
