@live-only @postgres
Feature: Several masters on one PostgreSQL database
  Masters pointed at one PostgreSQL database elect one leader; the others
  follow its mutation log and take over when it dies. Node agents and
  clients know every master and fail over between them: the grid keeps
  converging while the leader is killed, and nothing acknowledged is lost
  or applied twice.

  Scenario: Nodes keep converging while the leader master is killed
    Given two masters on PostgreSQL
    And a person "alice"
    And a software release "hello"
    And a computer "COMP-1" of "alice" with 3 partitions
    And a computer "COMP-2" of "alice" with 3 partitions
    And "alice" supplies "hello" on "COMP-1"
    And "alice" supplies "hello" on "COMP-2"
    And "alice" requests "one" of "hello"
    And "alice" requests "two" of "hello"
    And the nodes converge within 3 minutes
    When the leader master is killed
    Then a follower becomes leader within 5 seconds
    When "alice" requests "three" of "hello"
    And "alice" requests "four" of "hello"
    And the nodes converge within 3 minutes
    Then "three" is reported started
    And "four" is reported started
    When the killed master comes back
    Then the killed master follows
    When the leader master is killed
    Then a follower becomes leader within 5 seconds
    When "alice" requests "five" of "hello"
    And "alice" requests "six" of "hello"
    And the nodes converge within 3 minutes
    And the killed master comes back
    Then the killed master follows
    And "alice" has 6 instances
    And every instance of "alice" runs in exactly one partition
    And "one" is reported started
    And "six" is reported started
