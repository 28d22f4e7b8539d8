# References for tests/gee/test_small_sample.py: R's clubSandwich (Debian r-cran-clubsandwich) on
# GLMs, i.e. GEE with the independence working correlation.
#   Rscript tests/gee/r/clubsandwich_small_sample.R /tmp/epilepsy_long.csv
# The CSV is bayesglmm.datasets.load_epilepsy() written with to_csv(index=False). (clubSandwich
# 0.5.8 fails on geeglm objects with geepack 1.3.9 and on glm fits with an offset: 'd * X'.)
suppressPackageStartupMessages(library(clubSandwich))
epi <- read.csv(commandArgs(trailingOnly = TRUE)[1])
epi <- epi[order(epi$id, epi$time), ]
g <- glm(y ~ time + trt + trt:time, data = epi, family = poisson)
cat("beta:", format(coef(g), digits = 12), "\n")
for (type in c("CR0", "CR2", "CR3")) {
  cat(type, format(sqrt(diag(as.matrix(vcovCR(g, cluster = epi$id, type = type)))), digits = 12), "\n")
}
cat("clubSandwich", as.character(packageVersion("clubSandwich")), "\n")
