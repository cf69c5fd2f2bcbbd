// SPDX-License-Identifier: Apache-2.0
// Real cases from MATH-500 and GSM8K: reference solutions' boxed answers against the gold answers.
// The fixtures below are excerpts (the end of each reference solution); the [shared] test cases
// run over the whole files in ../shared/data and are reported as skipped where it is absent.
#include <reckon/answer/equal.hpp>
#include <reckon/answer/pipeline.hpp>

#include <support/catch.hpp>
#include <support/shared_data.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace {

struct fixture {
  const char* solution_tail; // the end of the reference solution, with its \boxed{}
  const char* gold;          // the dataset's gold answer
};

// MATH-500 (HuggingFaceH4/MATH-500, test split): 68 cases chosen to cover each answer form.
const fixture math500[] = {
    {R"~((0,3), W);
dot((3,0), red);
[/asy]

Therefore, the polar coordinates are $\boxed{\left( 3, \frac{\pi}{2} \right)}.$)~",
     R"~(\left( 3, \frac{\pi}{2} \right))~"}, // test/precalculus/807.json
    {R"~(2}+\frac{3(0)-2}{0-2}=\frac{-8}{-4}+\frac{-5}{-3}+\frac{-2}{-2}=2+\frac{5}{3}+1=\boxed{\frac{14}{3}}$)~",
     R"~(\frac{14}{3})~"}, // test/algebra/2584.json
    {R"~(\dotsm (1)}{40320} = -\frac{37}{8},\]so
\[p(8) = \frac{q(8) + 8}{8^2 - 1} = \boxed{\frac{3}{56}}.\])~",
     R"~(\frac{3}{56})~"}, // test/intermediate_algebra/1197.json
    {R"~(\right)^{7} = \frac{5^3}{3^2} \cdot \frac{3^7}{5^7}
= \frac{3^5}{5^4}
= \boxed{\frac{243}{625}}.
$$)~",
     R"~(\frac{243}{625})~"}, // test/algebra/1072.json
    {R"~(+ ((-6) - 3)^2} &= \sqrt{6^2 + (-9)^2}\\
& = \sqrt{36 + 81}\\
& = \sqrt{117} = \boxed{3\sqrt{13}}.
\end{align*})~",
     R"~(3\sqrt{13})~"}, // test/algebra/2036.json
    {R"~(we find that the length of $DE$ is $\sqrt{DF^2 - EF^2},$ or $\sqrt{100 - 49} = \boxed{\sqrt{51}}$.)~",
     R"~(\sqrt{51})~"}, // test/precalculus/1303.json
    {R"~(242 as $11^2 \cdot 2$. Then $\sqrt{242} = \sqrt{11^2} \cdot \sqrt2 = \boxed{11\sqrt2}$.)~",
     R"~(11\sqrt2)~"}, // test/prealgebra/1302.json
    {R"~(occurs when $x = 20$ and $y = 30,$ so the minimum value is $\boxed{70 \sqrt{2}}.$)~",
     R"~(70 \sqrt{2})~"}, // test/intermediate_algebra/1454.json
    {R"~(+ 4q &= 190, \\
4p + q + r &= 54.
\end{align*}Solving, we find $(p,q,r) = \boxed{(6,31,-1)}.$   For these values, $\alpha^9 + p \alpha^6 + q \alpha^3 + r$ reduces to 0 for any root $\alpha$ of $x^3 - 3x^2 + 4x - 1,$ so $x^9 + px^6 + qx^3 + r$ will be divisible by $x^3 - 3x^2 + 4x - 1.$)~",
     R"~((6,31,-1))~"}, // test/intermediate_algebra/956.json
    {R"~( Then
\[-2b + 3 = 2b - b,\]which gives us $b = 1$.  Then $a = -2,$ so $(a,b) = \boxed{(-2,1)}.$)~",
     R"~((-2,1))~"}, // test/intermediate_algebra/47.json
    {R"~(application of Simon's Favorite Factoring Trick: \[ab + 5b+2a+10 = \boxed{(a+5)(b+2)}.\])~",
     R"~((a+5)(b+2))~"}, // test/intermediate_algebra/431.json
    {R"~(the set of $\lambda$ that satisfy the given condition is $\lambda \in \boxed{(3,4]}.$)~",
     R"~((3,4])~"}, // test/intermediate_algebra/558.json
    {R"~(Carla, so Evelyn's average speed is also greater than Carla's. Therefore, $\boxed{\text{Evelyn}}$ is our answer.)~",
     R"~(\text{Evelyn})~"}, // test/algebra/1349.json
    {R"~( So, she spins 90 degrees to her right past north, which leaves her facing $\boxed{\text{east}}$.)~",
     R"~(\text{east})~"}, // test/prealgebra/105.json
    {R"~(= f(f(g(f(g(-f(x)))))) = f(f(g(f(g(f(x)))))),\]so the function is $\boxed{\text{even}}.$

More generally, if we have a composition of functions, and at least one of the functions is even, then the whole composition of functions is even.)~",
     R"~(\text{even})~"}, // test/intermediate_algebra/128.json
    {R"~(degrees.  Their difference, $\angle BAC$, measures  \[\frac{900}7-\frac{630}7=\boxed{\frac{270}7\text{ degrees}}.\])~",
     R"~(\frac{270}7\text{ degrees})~"}, // test/prealgebra/1003.json
    {R"~(2 \\ -12 \\ -3 \end{pmatrix} = 0.\]Hence, the angle between the lines is $\boxed{90^\circ}.$)~",
     R"~(90^\circ)~"}, // test/precalculus/927.json
    {R"~(&= 650^\circ - 2\alpha\\
2\alpha &= 290^\circ\\
\alpha &= \boxed{145^\circ}.
\end{align*})~",
     R"~(145^\circ)~"}, // test/geometry/183.json
    {R"~(30^\circ} = -\sqrt{3} = \tan 120^\circ.\]Hence, the smallest such $\theta$ is $\boxed{120^\circ}.$)~",
     R"~(120^\circ)~"}, // test/precalculus/44.json
    {R"~(occurs when $x = \frac{1}{\sqrt{3}},$ so the maximum of $\angle APB$ is $\boxed{30^\circ}.$)~",
     R"~(30^\circ)~"}, // test/precalculus/117.json
    {R"~((and is decreasing at this point), so the smallest possible value of $c$ is $\boxed{\pi}.$)~",
     R"~(\pi)~"}, // test/precalculus/1199.json
    {R"~(-\frac{\pi}{6} \right) = -\frac{1}{2},$ $\arcsin \left( -\frac{1}{2} \right) = \boxed{-\frac{\pi}{6}}.$)~",
     R"~(-\frac{\pi}{6})~"}, // test/precalculus/1105.json
    {R"~($S$ is a sphere with radius 6, so its volume is
\[\frac{4}{3} \pi \cdot 6^3 = \boxed{288 \pi}.\])~",
     R"~(288 \pi)~"}, // test/precalculus/1056.json
    {R"~(which is what the nine sectors add up to.)

Finally, the perimeter of $S$ is $\boxed{18+2\pi}$ units.)~",
     R"~(18+2\pi)~"}, // test/geometry/686.json
    {R"~(-\frac{1}{3},$ $y = \frac{2}{3},$ and $z = \frac{5}{3}.$  Thus, $\mathbf{v} = \boxed{\begin{pmatrix} -1/3 \\ 2/3 \\ 5/3 \end{pmatrix}}.$)~",
     R"~(\begin{pmatrix} -1/3 \\ 2/3 \\ 5/3 \end{pmatrix})~"}, // test/precalculus/1300.json
    {R"~(we get
\[\mathbf{A} \begin{pmatrix} -13 \\ 3 \\ 4 \end{pmatrix} = \boxed{\begin{pmatrix} -2 \\ -14 \\ -7 \end{pmatrix}}.\])~",
     R"~(\begin{pmatrix} -2 \\ -14 \\ -7 \end{pmatrix})~"}, // test/precalculus/263.json
    {R"~(\mathbf{A} \\
&= -\mathbf{I} + \mathbf{A} - \mathbf{A} \\
&= -\mathbf{I} = \boxed{\begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix}}.
\end{align*})~",
     R"~(\begin{pmatrix} -1 & 0 \\ 0 & -1 \end{pmatrix})~"}, // test/precalculus/920.json
    {R"~(\\ - 7 \\ 3 \end{pmatrix} - 3 \begin{pmatrix} 4 \\ 7 \\ 2 \end{pmatrix} \\
&= \boxed{\begin{pmatrix} -18 \\ -49 \\ 96 \end{pmatrix}}.
\end{align*})~",
     R"~(\begin{pmatrix} -18 \\ -49 \\ 96 \end{pmatrix})~"}, // test/precalculus/881.json
    {R"~(large.  Hence, by a continuity argument, $S$ can take on all values in $\boxed{(2,\infty)}.$)~",
     R"~((2,\infty))~"}, // test/intermediate_algebra/183.json
    {R"~(the range of the entire function is all non-positive numbers, or $x \in \boxed{(-\infty, 0]}$.)~",
     R"~((-\infty, 0])~"}, // test/precalculus/695.json
    {R"~(5} < 0,$ and if $x > 5,$ then $\frac{1}{x - 5} > 0,$ so the solution is $x \in \boxed{(5,\infty)}.$)~",
     R"~((5,\infty))~"}, // test/intermediate_algebra/1714.json
    {R"~(when $x>3$. So the domain of $f(x)$ is $x<2 \text{ or } x>3$, or $x \in \boxed{(-\infty, 2) \cup (3, \infty)}$ in interval notation.)~",
     R"~((-\infty, 2) \cup (3, \infty))~"}, // test/algebra/2043.json
    {R"~(+ n - 2 = 0.$  This factors as $(n - 1)(n + 2) = 0,$ so the solutions are $n = \boxed{1,-2}.$)~",
     R"~(1,-2)~"}, // test/intermediate_algebra/1388.json
    {R"~( Then $x - 3 = 0,$ $x - 7 = 0,$ or $2x - 10 = 0.$  This gives us the roots $\boxed{3, 5, 7}.$)~",
     R"~(3, 5, 7)~"}, // test/intermediate_algebra/428.json
    {R"~($t = 2,$ $(x,y) = (2^3 + 7, -3 \cdot 2^2 - 6 \cdot 2 - 5) = \boxed{(15,-29)}.$)~",
     R"~((15,-29))~"}, // test/precalculus/43.json
    {R"~(number of seating arrangements in which the boys sit together is $7!\times 2!=\boxed{10,\!080}$.)~",
     R"~(10,\!080)~"}, // test/counting_and_probability/508.json
    {R"~($AB=\frac{5}{4}=1\frac{1}{4}$, or $\boxed{1.25}$.)~",
     R"~(1.25)~"}, // test/prealgebra/1558.json
    {R"~(numerator and denominator by 5 gives $3/20=15/100 = \boxed{0.15}$.)~",
     R"~(0.15)~"}, // test/prealgebra/572.json
    {R"~(+ 1.91.
\end{align*}Therefore, $b=1.3$ and $c=1.91$, which gives us $b+c = \boxed{3.21}$.)~",
     R"~(3.21)~"}, // test/algebra/621.json
    {R"~(ac{21}{2^2\cdot5^7}\cdot\frac{2^5}{2^5}=\frac{21\cdot32}{10^7}=\frac{672}{10^7}=\boxed{.0000672}.$$)~",
     R"~(.0000672)~"}, // test/number_theory/598.json
    {R"~(that the investment will have grown to $\$24,\!000 \cdot 1.01^{30} \approx \boxed{\$32,\!348}$, to the nearest dollar.)~",
     R"~(\$32,\!348)~"}, // test/algebra/2626.json
    {R"~(27 $\text{in}^3$, its total price will be a total of $54(\$0.15)+27(\$0.40)=\boxed{\$18.90}$.)~",
     R"~(\$18.90)~"}, // test/algebra/2780.json
    {R"~($.4$ of the original price.  Thus the original price was

$$\frac{\$14.40}{.4}=\boxed{\$36}$$)~",
     R"~(\$36)~"}, // test/prealgebra/1203.json
    {R"~(& & 7_8 \\ \cline{2-4} & & 5 & 2_8 \\ \end{array} $$ Thus, the answer is $\boxed{52_8}.$)~",
     R"~(52_8)~"}, // test/number_theory/864.json
    {R"~(&- & 1 & 8_9 \\ \cline{2-4} & & 4 & 0_9 \\ \end{array} $$ Thus, the answer is $\boxed{40_9}.$)~",
     R"~(40_9)~"}, // test/number_theory/46.json
    {R"~(are $101_2=5_8$ and $010_2=2_8$. Altogether, we find that $10101001110_{2}=\boxed{2516_8}$.)~",
     R"~(2516_8)~"}, // test/number_theory/516.json
    {R"~(write $555$ as $4 \cdot 5^3 + 2 \cdot 5^2 + 1 \cdot 5^1$. Thus, the answer is $\boxed{4210_{5}}$.)~",
     R"~(4210_{5})~"}, // test/number_theory/847.json
    {R"~(\right) (\sqrt{2} - 3i \sqrt{2}) + 2 - 3i \\
&= (4 - 2i) + 2 - 3i \\
&= \boxed{6 - 5i}.
\end{align*})~",
     R"~(6 - 5i)~"}, // test/precalculus/990.json
    {R"~(the factor of 6 and simplify to obtain $(1+2i)6-3i=6+12i-3i=\boxed{6+9i}$.)~",
     R"~(6+9i)~"}, // test/algebra/1098.json
    {R"~(+ 7i$", (-2,7), N);
[/asy]

Thus, the image of $7 + 2i$ is $i(7 + 2i) = \boxed{-2 + 7i}.$)~",
     R"~(-2 + 7i)~"}, // test/precalculus/779.json
    {R"~(then have \[z_{2002} = z_1 = \frac{z_0+i}{z_0-i} = \frac{1/137 + 2i}{1/137} = \boxed{1+274i}.\])~",
     R"~(1+274i)~"}, // test/intermediate_algebra/1063.json
    {R"~(which is not true, so $x=1$ is extraneous. Therefore, our only solution is $\boxed{x=5}$.)~",
     R"~(x=5)~"}, // test/algebra/2193.json
    {R"~(x^4 + x^3 - x^2 + x - 1 - \frac{2}{x + 1}.
\end{align*}Thus, the quotient is $\boxed{x^5 - x^4 + x^3 - x^2 + x - 1}.$)~",
     R"~(x^5 - x^4 + x^3 - x^2 + x - 1)~"}, // test/intermediate_algebra/1217.json
    {R"~(Finally, combine like terms to get \begin{align*}
\boxed{x^3+3x-6}
\end{align*})~",
     R"~(x^3+3x-6)~"}, // test/algebra/2046.json
    {R"~(\sin x} \\
&= \frac{\cos^2 x}{\cos x \sin x} \\
&= \frac{\cos x}{\sin x} \\
&= \boxed{\cot x}.
\end{align*})~",
     R"~(\cot x)~"}, // test/precalculus/24313.json
    {R"~(= \left(4\dfrac{5}{8} \cdot \dfrac{8}{37}\right)^{55} = 1^{55} = \boxed{1}.\])~",
     R"~(1)~"}, // test/prealgebra/1787.json
    {R"~(\\ 2^5 &= 32 \end{align*}Using this pattern, the units digit is found to be $\boxed{4}$.)~",
     R"~(4)~"}, // test/number_theory/686.json
    {R"~($(50\cdot 2)(50 \cdot 2 - 20)$, or $100 \cdot 80$. Thus, our final answer is $\boxed{8000}$.)~",
     R"~(8000)~"}, // test/algebra/2593.json
    {R"~(is minimal, we take exactly three 2's and do not have any additional 0's: $M=\boxed{2220}$.)~",
     R"~(2220)~"}, // test/number_theory/1032.json
    {R"~(\pi i/6})^n = 1$ is 6.  Therefore, the smallest possible value of $n$ is $\boxed{6}$.)~",
     R"~(6)~"}, // test/precalculus/285.json
    {R"~(the class average is  $$\frac{2520}{30} = \boxed{84}.$$)~",
     R"~(84)~"}, // test/prealgebra/846.json
    {R"~(= \frac{1}{201}$. This is in simplest terms, so our answer is $1+201 = \boxed{202}$.)~",
     R"~(202)~"}, // test/number_theory/1090.json
    {R"~(cdot\frac{-1+5\sqrt{5}}{2}\cdot\frac{-1-5\sqrt{5}}{2}=\frac{-56(1-25\cdot5)}{4}=\boxed{1736}.\])~",
     R"~(1736)~"}, // test/algebra/297.json
    {R"~(\text{ pula}}\approx 4.89 \text{ USD}$. Comparing these numbers, we see that $\boxed{\text{Navin}}$ has the highest per-hour wages, and therefore would earn the most in eight hours.)~",
     R"~(\text{Navin})~"}, // test/prealgebra/1991.json
    {R"~(\Rightarrow\\
0&=4x(x-5).
\end{align*}Because $x$ cannot be $0$, $x=\boxed{5}$.)~",
     R"~(5)~"}, // test/algebra/1837.json
    {R"~($Z$ has the smallest area. The difference in their areas is $20\pi-13\pi = \boxed{7\pi}.$)~",
     R"~(7\pi)~"}, // test/prealgebra/1512.json
    {R"~(to find that one million lire equals $\frac{3}{2}\cdot10,\!000/12=\boxed{1250}$ dollars.)~",
     R"~(1250)~"}, // test/prealgebra/993.json
    {R"~(12 + 6 \cdot 4 = 64,
\end{align*}so $s_1 = 4.$  Hence, $s_2 = \frac{24}{s_1} = \boxed{6}.$)~",
     R"~(6)~"}, // test/intermediate_algebra/1407.json
};

// GSM8K test split: the last reasoning line and the "#### N" line.
const std::pair<const char*, const char*> gsm8k[] = {
    {R"~(The remaining meals are 1,360 meals - 142 meals = <<1360-142=1218>>1,218 meals
#### 1218)~", "1218"}, // gsm8k test 1285
    {R"~(Thus, the farmer needs 4500 / 2250 = <<4500/2250=2>>2 trips to transport all the feed in his farm truck.
#### 2)~", "2"}, // gsm8k test 459
    {R"~(Now add the two amounts of hay to find the total: 84 pounds + 75 pounds = <<84+75=159>>159 pounds
#### 159)~", "159"}, // gsm8k test 937
    {R"~(If 420 of the remaining students who didn't use exit A used exit B, the number who used exit C is 700-420 = 280 students.
#### 280)~", "280"}, // gsm8k test 239
    {R"~(She charged 40+105+60=<<40+105+60=205>>205.
#### 205)~", "205"}, // gsm8k test 942
    {R"~(So he loses to 20-16=<<20-16=4>>4 people
#### 4)~", "4"}, // gsm8k test 305
    {R"~(That means he runs 60/10=<<60/10=6>>6 hours a week
#### 6)~", "6"}, // gsm8k test 486
    {R"~(The total across the 8 weeks is: 16+20 = <<16+20=36>>36 hours
#### 36)~", "36"}, // gsm8k test 530
    {R"~(The total cost for the party is the $125 fee + $126 for additional guests = $<<125+126=251>>251.
#### 251)~", "251"}, // gsm8k test 1071
    {R"~(There are 12 eggs in 1 dozen and he will 240 eggs which is 240/12 = 20 dozen eggs
#### 20)~", "20"}, // gsm8k test 1141
    {R"~(Therefore 240 + 180 + 150 = <<240+180+150=570>>570 employees can join the day trip.
#### 570)~", "570"}, // gsm8k test 424
    {R"~(In the first set he retrieved 2(3) + 4 balls = 10
#### 10)~", "10"}, // gsm8k test 1047
    {R"~(The total amount she spent at the store is $48 + $50 = $<<48+50=98>>98
#### 98)~", "98"}, // gsm8k test 739
    {R"~(Thus, Leo is 21 * 2 = <<21*2=42>>42 years old.
#### 42)~", "42"}, // gsm8k test 949
    {R"~(1 dozen is equal to 12 and she needs 24 eggs so she needs 24/12 = <<24/12=2>>2 dozen eggs
#### 2)~", "2"}, // gsm8k test 654
    {R"~(They pay 24+8+6=$<<24+8+6=38>>38 in total.
#### 38)~", "38"}, // gsm8k test 1274
    {R"~(Her purchase will total $352.00 and she makes $8.00 at her part-time job so she'll have to work 352/8 = <<352/8=44>>44 hours
#### 44)~", "44"}, // gsm8k test 215
    {R"~(If The finders found 252 shells, team Gogetters found 420-252 = 168 shells.
#### 168)~", "168"}, // gsm8k test 1204
    {R"~(Together, they made 70+50 = <<70+50=120>>120 friends at the new school.
#### 120)~", "120"}, // gsm8k test 127
    {R"~(It will take Jay 60 / 12 = <<60/12=5>>5 hours to create enough snowballs.
#### 5)~", "5"}, // gsm8k test 1187
    {R"~(On Tuesday, Kylie collects 25 * 2 = <<25*2=50>>50 shells
#### 50)~", "50"}, // gsm8k test 231
    {R"~(So it took 48+43=<<48+43=91>>91 minutes to make the chicken.
#### 91)~", "91"}, // gsm8k test 267
    {R"~(Brittany's mom gave the cashier 22+8=<<22+8=30>>30 dollars.
#### 30)~", "30"}, // gsm8k test 148
    {R"~(If she saves $4 every day for 5 days, she will have $4 * 5 = $<<4*5=20>>20
#### 20)~", "20"}, // gsm8k test 358
    {R"~(So, Anne is 6 + 2 = <<6+2=8>>8 years old.
#### 8)~", "8"}, // gsm8k test 536
    {R"~(Blue Golf Balls:8/2=<<8/2=4>>4 balls
#### 4)~", "4"}, // gsm8k test 269
    {R"~(He leaves with $25 because 125 - 100 = <<125-100=25>>25
#### 25)~", "25"}, // gsm8k test 691
    {R"~(He can buy three plums because .75 / .25 = <<.75/.25=3>>3
#### 3)~", "3"}, // gsm8k test 1014
    {R"~(Therefore, 1/2 pound almonds and 1/3 pound walnuts cost $10 - $7 = $3 more than a mixture of 1/5 pound almonds and 1/3 pound walnuts.
#### 3)~", "3"}, // gsm8k test 659
    {R"~(Given that each gallon of gas costs $3, then his car is consuming 5 * $3 = $<<5*3=15>>15 worth of gas each week
#### 15)~", "15"}, // gsm8k test 784
};

// The value of a JSON string field in one JSONL line (enough for these files: \n, \", \\, \/,
// \uXXXX in the BMP).
std::string json_field(const std::string& line, const std::string& name) {
  const std::string tag = "\"" + name + "\":\"";
  auto p = line.find(tag);
  if (p == std::string::npos) return {};
  std::string out;
  for (p += tag.size(); p < line.size() && line[p] != '"'; ++p) {
    if (line[p] != '\\' || p + 1 >= line.size()) {
      out += line[p];
      continue;
    }
    const char d = line[++p];
    if (d == 'n') out += '\n';
    else if (d == 't') out += '\t';
    else if (d == 'u' && p + 4 < line.size()) {
      const unsigned v = static_cast<unsigned>(std::stoul(line.substr(p + 1, 4), nullptr, 16));
      p += 4;
      if (v < 0x80) {
        out += static_cast<char>(v);
      } else if (v < 0x800) {
        out += static_cast<char>(0xC0 | (v >> 6));
        out += static_cast<char>(0x80 | (v & 63));
      } else {
        out += static_cast<char>(0xE0 | (v >> 12));
        out += static_cast<char>(0x80 | ((v >> 6) & 63));
        out += static_cast<char>(0x80 | (v & 63));
      }
    } else out += d;
  }
  return out;
}

// The gold of a GSM8K answer, read without the library: the text after its "####", less the
// thousands separators (every gold there is an integer, some with commas or a minus sign).
std::string gsm8k_gold(const std::string& answer) {
  const auto p = answer.rfind("####");
  if (p == std::string::npos) return {};
  std::string out;
  for (char c : answer.substr(p + 4))
    if (c != ',' && c != ' ' && c != '\n') out += c;
  return out;
}

} // namespace

TEST_CASE("MATH-500 fixtures: boxed answer equals the gold answer", "[answer][data]") {
  for (const auto& f : math500) {
    INFO("gold: " << f.gold);
    const auto got = reckon::extract_and_canonicalize(f.solution_tail);
    REQUIRE(got);
    CHECK(reckon::answers_equal(*got, reckon::canonicalize(f.gold)));
  }
}

TEST_CASE("MATH-500 fixtures survive the ways models restate them", "[answer][data]") {
  // Each gold answer, restated: in $...$, after "The final answer is", \frac as \dfrac, with a
  // trailing period, with spaces after commas, with doubled spaces, after "x = ", inside
  // \left( \right). All must stay equal to the gold answer.
  auto replace_all = [](std::string s, const std::string& from, const std::string& to) {
    for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
    return s;
  };
  for (const auto& f : math500) {
    const std::string gold = f.gold;
    const auto want = reckon::canonicalize(gold);
    const std::string variants[] = {
        "$" + gold + "$",
        "The final answer is $\\boxed{" + gold + "}$. I hope it is correct.",
        replace_all(gold, "\\frac", "\\dfrac"),
        gold + ".",
        replace_all(gold, ",", ", "),
        " " + replace_all(gold, " ", "  ") + " ",
        gold.find('=') == std::string::npos ? "x = " + gold : gold,
        gold.size() > 1 && gold.front() == '(' && gold.back() == ')'
            ? "\\left(" + gold.substr(1, gold.size() - 2) + "\\right)"
            : gold,
    };
    for (const auto& v : variants) {
      INFO("gold: " << gold << "  variant: " << v);
      const auto got = reckon::extract_and_canonicalize(v, reckon::first_of{reckon::boxed_extractor{}, [](std::string_view t) {
        return std::optional<std::string>(std::string(t));
      }});
      REQUIRE(got);
      CHECK(reckon::answers_equal(*got, want));
    }
  }
}

TEST_CASE("GSM8K fixtures: #### answers equal the gold integer", "[answer][data]") {
  for (const auto& [text, gold] : gsm8k) {
    INFO("text: " << text);
    const auto got = reckon::extract_and_canonicalize(text);
    REQUIRE(got);
    CHECK(got->key == gold);
    REQUIRE(got->value);
    REQUIRE(got->value->exact);
    CHECK(got->value->exact->is_integer());
  }
}

TEST_CASE("whole MATH-500: every reference solution's boxed answer equals the gold answer", "[answer][data][shared]") {
  std::ifstream math(reckon::test::shared_data_file("math500.jsonl"));
  REQUIRE(math);
  int n = 0, agree = 0, numeric = 0;
  for (std::string line; std::getline(math, line);) {
    const auto solution = json_field(line, "solution");
    const auto gold = reckon::canonicalize(json_field(line, "answer"));
    ++n;
    numeric += gold.value ? 1 : 0;
    const auto got = reckon::extract_and_canonicalize(solution, reckon::boxed_extractor{});
    if (got && reckon::answers_equal(*got, gold)) ++agree;
    else std::cout << "MATH-500 mismatch: gold " << gold.key << " got " << (got ? got->key : "(none)") << "\n";
  }
  std::cout << "MATH-500: " << agree << "/" << n << " boxed answers equal the gold answer; " << numeric
            << " gold answers have a numeric value\n";
  CHECK(n == 500);
  CHECK(agree == n);
}

TEST_CASE("whole GSM8K: every extracted #### answer equals the gold integer", "[answer][data][shared]") {
  std::ifstream gsm(reckon::test::shared_data_file("gsm8k_test.jsonl"));
  REQUIRE(gsm);
  int m = 0, agree = 0;
  for (std::string line; std::getline(gsm, line);) {
    const auto answer = json_field(line, "answer");
    const auto gold = gsm8k_gold(answer);
    const auto got = reckon::extract_and_canonicalize(answer, reckon::gsm8k_extractor{});
    ++m;
    // Key equality is the strict check (the gold is an integer in plain digits); answers_equal
    // adds nothing for integers but is what a harness would use.
    if (got && got->key == gold && reckon::answers_equal(*got, reckon::canonicalize(gold)) && got->value &&
        got->value->exact && got->value->exact->is_integer())
      ++agree;
    else std::cout << "GSM8K mismatch: gold " << gold << " got " << (got ? got->key : "(none)") << "\n";
  }
  std::cout << "GSM8K: " << agree << "/" << m << " #### answers equal the gold integer\n";
  CHECK(m == 1319);
  CHECK(agree == m);
}

TEST_CASE("idempotence: every MATH-500 and GSM8K answer's key is its own key (already so before #15's fix; a guard)", "[answer][data][shared]") {
  int n = 0, stable = 0;
  auto check = [&](const std::string& text) {
    const auto once = reckon::canonicalize(text).key;
    ++n;
    if (reckon::canonicalize(once).key == once) ++stable;
    else std::cout << "not idempotent: " << text << " -> " << once << " -> " << reckon::canonicalize(once).key << "\n";
  };
  std::ifstream math(reckon::test::shared_data_file("math500.jsonl"));
  for (std::string line; std::getline(math, line);) {
    check(json_field(line, "answer"));
    if (auto boxed = reckon::boxed_extractor{}(json_field(line, "solution"))) check(*boxed);
  }
  std::ifstream gsm(reckon::test::shared_data_file("gsm8k_test.jsonl"));
  for (std::string line; std::getline(gsm, line);)
    if (auto g = reckon::gsm8k_extractor{}(json_field(line, "answer"))) check(*g);
  std::cout << "MATH-500 + GSM8K: " << stable << "/" << n << " keys idempotent\n";
  CHECK(n == 500 + 500 + 1319);
  CHECK(stable == n);
}
